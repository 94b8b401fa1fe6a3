# A set without `__toString` or `outPath` as the first operand of `+` is an
# error before the second operand is evaluated (differential fuzzer).
builtins.tryEval ({ } + (throw "t"))
