# A type mismatch in a system file: the error names the option, the type and every file defining it.
let
  sys = import ../eval-config.nix { pkgs = import ./fake-pkgs.nix; modules = [ ./errors/bad-type.nix ./errors/also-getty.nix ]; };
in
sys.config.system.build.toplevel.drvPath
