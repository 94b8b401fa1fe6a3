{ lib }:
{
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;
  pipe = builtins.foldl' (x: f: f x);
  boolToString = b: if b then "true" else "false";
  max = a: b: if a > b then a else b;
  min = a: b: if a < b then a else b;
  mod = a: b: a - (a / b) * b;
  # Calls `f` with only the arguments it declares (or all of them when it declares none).
  callWith = f: args:
    let fa = builtins.functionArgs f;
    in if fa == { } then f args else f (builtins.intersectAttrs fa args);
  isFunction = builtins.isFunction;
  throwIf = cond: msg: if cond then throw msg else x: x;
  warn = msg: builtins.trace "warning: ${msg}";
}
