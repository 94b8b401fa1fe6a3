let d = derivation { name = "ignore-nulls"; builder = "/bin/sh"; system = "x86_64-linux"; __ignoreNulls = true; a = null; b = "kept"; }; in [ d.drvPath d.outPath ]
