builtins.toJSON { __toString = self: "me"; }
