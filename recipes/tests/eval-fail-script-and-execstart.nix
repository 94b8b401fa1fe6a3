# `script` and an ExecStart of one's own: NixOS reports conflicting definitions.
((import ./system.nix) [{
  systemd.services.ticker = {
    script = "echo tick";
    serviceConfig.ExecStart = "/bin/true";
  };
}]).config.system.build.toplevel.drvPath
