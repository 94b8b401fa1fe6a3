builtins.toJSON "héllo ☃"
