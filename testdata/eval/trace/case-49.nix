# mapAttrs' results have no positions, and the applications it makes no call site:
# the attribute frame is there, without a place.
builtins.mapAttrs (n: v: v.a) { a = 1; }
