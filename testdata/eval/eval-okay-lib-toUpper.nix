builtins.replaceStrings [ "a" "b" "c" ] [ "A" "B" "C" ] "abcabc"
