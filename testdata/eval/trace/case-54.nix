# getAttr's missing attribute is worded as Nix's builtins word it, with their frame.
# (Nix also shows where the set was written, which b8g does not keep: the set here has no
# position of its own, being made by a builtin.)
builtins.getAttr "x" (builtins.listToAttrs [ ])
