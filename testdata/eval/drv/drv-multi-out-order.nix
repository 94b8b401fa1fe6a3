let d = derivation { name = "order"; builder = "/bin/sh"; system = "x86_64-linux"; outputs = [ "lib" "out" ]; }; in [ d.drvPath d.outPath d.outputName d.lib.outPath ]
