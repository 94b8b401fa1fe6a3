builtins.typeOf builtins
