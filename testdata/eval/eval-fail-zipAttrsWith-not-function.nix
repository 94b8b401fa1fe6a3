# Nix 2.8 forces the function before the list, even when no value is asked for.
builtins.attrNames (builtins.zipAttrsWith 1 [ { a = 1; } ])
