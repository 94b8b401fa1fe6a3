# lib.indent prefixes non-empty lines and keeps the string context (store paths stay dependencies).
let
  lib = import ../.;
  dep = derivation { name = "dep"; system = "builtin"; builder = "builtin:fake"; };
  s = "root ${dep};\n\nindex a;\n";
in
[
  (lib.indent "  " "a\n\nb\n")
  (lib.indent "> " "x\ny")
  (lib.indent "  " "")
  (builtins.hasContext (lib.indent "  " s))
  (builtins.attrNames (builtins.getContext (lib.indent "  " s)))
]
