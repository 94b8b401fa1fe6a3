builtins.fromJSON "{ invalid"
