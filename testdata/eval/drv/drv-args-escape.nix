let d = derivation { name = "escape"; builder = "/bin/sh"; system = "x86_64-linux"; args = [ "quote\" backslash\\ newline\n tab\t" "" ]; }; in [ d.drvPath d.outPath ]
