let d = derivation { name = "with-src"; builder = "/bin/sh"; system = "x86_64-linux"; src = ./src; script = ./src/run.sh; }; in [ d.drvPath d.outPath ]
