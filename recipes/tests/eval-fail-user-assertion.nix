# A failed assertion prints its message.
let
  sys = import ../eval-config.nix { pkgs = import ./fake-pkgs.nix; modules = [ ./errors/assertion.nix ]; };
in
sys.config.system.build.toplevel.drvPath
