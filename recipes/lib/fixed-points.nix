{ lib }:
rec {
  # The least fixed point of `f`: `f` receives its own result.
  fix = f: let x = f x; in x;
  # `extends overlay f`: a function whose fixed point is `f`'s with `overlay` applied on top.
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; in fApplied // g final (prev // fApplied);
  composeManyExtensions = builtins.foldl' composeExtensions (final: prev: { });
  makeExtensible = rattrs:
    let
      go = f: fix f // { extend = overlay: go (extends overlay f); };
    in
    go rattrs;
}
