let lib = import ../.; in
(lib.evalModules { modules = [
  { options.name = lib.mkOption { type = lib.types.str; }; }
  { _file = "one.nix"; name = "a"; }
  { _file = "two.nix"; name = "b"; }
]; }).config.name
