# `elem` compares strings and numbers in place, everything else as `==` does.
let l = [ 1 "a" 2.0 null true /tmp/x [ 1 ] { a = 1; } (3 + 0) "b${"c"}" ];
in [
  (builtins.elem 1 l) (builtins.elem 1.0 l) (builtins.elem 2 l) (builtins.elem "a" l)
  (builtins.elem "bc" l) (builtins.elem null l) (builtins.elem true l) (builtins.elem false l)
  (builtins.elem /tmp/x l) (builtins.elem [ 1 ] l) (builtins.elem { a = 1; } l) (builtins.elem 3 l)
  (builtins.elem "x" l) (builtins.elem (throw "never forced") [ ])
  (builtins.elem 1 (builtins.genList (i: i) 5)) (builtins.elem "1" (map toString [ 0 1 ]))
]
