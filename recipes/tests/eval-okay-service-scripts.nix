# NixOS's preStop/postStop/reload scripts, onFailure and start limits on a service.
let
  sys = import ./system.nix [{
    systemd.services.app = {
      script = "run"; preStop = "stop-it"; postStop = "clean"; reload = "kill -HUP x";
      onFailure = [ "alert.service" ]; startLimitBurst = 3; startLimitIntervalSec = 60;
    };
  }];
  unit = builtins.unsafeDiscardStringContext sys.config.systemd.unitFiles."app.service";
  keys = builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" unit);
in
map (l: builtins.head (builtins.match "([^=]*=?)(/nix/store/[a-z0-9]*-)?(.*)" l) + builtins.elemAt (builtins.match "([^=]*=?)(/nix/store/[a-z0-9]*-)?(.*)" l) 2) keys
