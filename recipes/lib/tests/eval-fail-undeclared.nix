let lib = import ../.; in
(lib.evalModules { modules = [
  { options.a = lib.mkOption { type = lib.types.int; default = 1; }; }
  { _file = "typo.nix"; config.b.c = 2; }
]; }).config.a
