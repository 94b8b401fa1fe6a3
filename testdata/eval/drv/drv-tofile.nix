let f = builtins.toFile "hello.txt" "hello world"; d = derivation { name = "uses-file"; builder = "/bin/sh"; system = "x86_64-linux"; inherit f; }; in { inherit f; inherit (d) drvPath outPath; }
