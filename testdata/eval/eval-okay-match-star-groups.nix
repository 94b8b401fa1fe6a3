builtins.match "(a*)(b*)" "aab"
