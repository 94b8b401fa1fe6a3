# A list as the first operand of `+` is an error before the second operand
# is evaluated, so `tryEval` does not see the throw (differential fuzzer).
builtins.tryEval ([ ] + (throw "t"))
