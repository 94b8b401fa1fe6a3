builtins.isPath (toString ./.)
