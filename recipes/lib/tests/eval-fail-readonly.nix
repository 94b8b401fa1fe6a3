let lib = import ../.; in
(lib.evalModules { modules = [
  { options.version = lib.mkOption { type = lib.types.str; readOnly = true; default = "1"; }; }
  { _file = "one.nix"; version = "2"; }
  { _file = "two.nix"; version = "2"; }
]; }).config.version
