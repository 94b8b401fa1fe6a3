(builtins.tryEval { a = throw "later"; }).success
