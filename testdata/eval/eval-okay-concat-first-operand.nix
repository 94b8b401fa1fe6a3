# `+` and `//` check their first operand before evaluating the second, as
# Nix does: the type error comes first and `tryEval` cannot catch it, so
# only operands that pass the check reach the `throw` (differential fuzzer).
[
  (builtins.tryEval (1.5 + (throw "t")))
  (builtins.tryEval ({ } // (throw "t")))
  (builtins.tryEval ("s" + (throw "t")))
  (builtins.tryEval (1 + (throw "t")))
]
