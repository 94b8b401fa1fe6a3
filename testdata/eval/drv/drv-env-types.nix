let d = derivation { name = "env-types"; builder = "/bin/sh"; system = "x86_64-linux"; i = 42; f = 1.5; t = true; fl = false; n = null; l = [ 1 "two" [ 3 ] ]; s = "str"; }; in [ d.drvPath d.outPath ]
