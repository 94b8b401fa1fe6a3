let s = { alpha = 1; alpah = 2; beta = 3; }; in s.alhpa
