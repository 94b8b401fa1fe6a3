let lib = import ../.; in
(lib.evalModules { modules = [
  { options.kernel = lib.mkOption { type = lib.types.package; }; }
  { kernel = { type = "derivation"; name = "a"; }; }
  { kernel = { type = "derivation"; name = "b"; }; }
]; }).config.kernel
