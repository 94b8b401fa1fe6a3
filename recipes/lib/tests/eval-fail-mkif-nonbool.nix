let lib = import ../.; in
(lib.evalModules { modules = [
  { options.x = lib.mkOption { type = lib.types.int; default = 0; }; }
  { x = lib.mkIf "yes" 1; }
]; }).config.x
