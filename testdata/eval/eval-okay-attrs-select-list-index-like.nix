let s = { "0" = "zero"; }; in s."0"
