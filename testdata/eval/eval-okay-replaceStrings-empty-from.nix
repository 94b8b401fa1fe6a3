builtins.replaceStrings ["" "b"] ["_" "B"] "abc"
