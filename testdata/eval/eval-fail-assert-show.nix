# Nix shows the condition with its own printer: a selection as (e).path.
let x = { a = 1; "b c" = 2; }; in assert x.a == 2 && builtins.isString x."b c" && x ? ${"d"}; x
