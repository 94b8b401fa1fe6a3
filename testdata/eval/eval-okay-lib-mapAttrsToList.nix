let mapAttrsToList = f: s: map (n: f n s.${n}) (builtins.attrNames s); in mapAttrsToList (n: v: n + "=" + v) { a = "1"; b = "2"; }
