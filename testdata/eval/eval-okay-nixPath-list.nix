builtins.isList builtins.nixPath
