let lib = import ../.; in
(lib.evalModules { modules = [
  { options.hostName = lib.mkOption { type = lib.types.str; }; }
]; }).config.hostName
