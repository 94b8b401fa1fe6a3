let d = derivation { name = "pass"; builder = "/bin/sh"; system = "x86_64-linux"; passAsFile = [ "big" ]; big = "lots of text"; }; in [ d.drvPath d.outPath ]
