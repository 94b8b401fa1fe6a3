let
  lib = {
    fold = op: nul: list: if list == [] then nul else op (builtins.head list) (lib.fold op nul (builtins.tail list));
  };
  cfg = { services = { web = { port = lib.fold (a: b: a + b) 0 [ 1 2 "x" ]; }; }; };
in
  cfg.services.web.port
