builtins.tryEval (throw "bad")
