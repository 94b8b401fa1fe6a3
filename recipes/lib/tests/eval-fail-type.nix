let lib = import ../.; in
(lib.evalModules { modules = [
  { options.port = lib.mkOption { type = lib.types.port; }; }
  { _file = "user.nix"; port = 70000; }
]; }).config.port
