[ (builtins.split "(a)b" "xabyab") (builtins.split "," "a,b,c") (builtins.split "x" "abc") (builtins.split "(a)|(c)" "abc") ]
