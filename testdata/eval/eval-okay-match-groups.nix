[ (builtins.match "(a)?(b)" "b") (builtins.match "([0-9]+)-([0-9]+)" "12-34") (builtins.match "x" "xx") ]
