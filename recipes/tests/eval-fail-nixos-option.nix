# An option NixOS has and b8g lacks: the error says so and points at `b8g options`.
let
  sys = import ../eval-config.nix { pkgs = import ./fake-pkgs.nix; modules = [ ./errors/nixos-mysql.nix ]; };
in
sys.config.system.build.toplevel.drvPath
