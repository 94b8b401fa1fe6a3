# listToAttrs wants each name a string at its own attribute.
builtins.listToAttrs [ { name = 1; value = 2; } ]
