({ a, ... } @ args: builtins.attrNames args) { a = 1; b = 2; }
