# A misspelt option in a system file: the error names the file and suggests the right name.
let
  sys = import ../eval-config.nix { pkgs = import ./fake-pkgs.nix; modules = [ ./errors/typo.nix ]; };
in
sys.config.system.build.toplevel.drvPath
