let f = builtins.toFile "script" "exec ${./src/run.sh}"; in [ f (builtins.getContext f) ]
