builtins.toJSON "tab\there\u0001"
