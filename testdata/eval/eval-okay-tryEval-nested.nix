builtins.tryEval (builtins.tryEval (throw "x")).value
