# Nix 2.9's `break` returns its argument outside the debugger, and is also a
# global name; Nix 2.10's `traceVerbose` is `x: y: y` without --trace-verbose
# (the first argument is not even evaluated).
[
  (builtins.break 1)
  (break "b")
  (builtins.traceVerbose (throw "not evaluated") 2)
  (let break = 3; in break)
  (builtins.isFunction builtins.break)
]
