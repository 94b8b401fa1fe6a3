[ (builtins.match "[[:alpha:]]+([[:digit:]]+)" "abc123") (builtins.match "[[:space:]]*(.*)" "  hi") ]
