builtins.hashString "md5" "é"
