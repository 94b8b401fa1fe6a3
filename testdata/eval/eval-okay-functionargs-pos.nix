# functionArgs keeps where each formal is written, for unsafeGetAttrPos
# (the module system's declaration positions come from it).
let
  p = builtins.unsafeGetAttrPos "b" (builtins.functionArgs ({ a
    , b ? 1 }: a));
in
[ p.line p.column (baseNameOf p.file) (builtins.functionArgs ({ a, b ? 1 }: a)) ]
