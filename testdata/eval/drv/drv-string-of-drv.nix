let d = derivation { name = "str"; builder = "/bin/sh"; system = "x86_64-linux"; }; in [ "${d}" (toString d) (builtins.unsafeDiscardStringContext d.outPath) ]
