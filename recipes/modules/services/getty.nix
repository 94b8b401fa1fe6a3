# services.getty: login prompts on the serial console (and more ttys if asked).
# busybox getty runs busybox login from the store (there is no /bin/login), which
# checks the password against /etc/shadow (users.users.<name>.hashedPassword).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types mkIf;
  cfg = config.services.getty;
in
{
  options.services.getty = {
    enable = mkOption { type = types.bool; default = true; description = "Whether to run login prompts."; };
    ttys = mkOption { type = types.listOf types.str; default = [ "ttyS0" ]; description = "Terminals to run getty on."; };
    baudRate = mkOption { type = types.int; default = 115200; description = "Serial speed."; };
    autologinUser = mkOption { type = types.nullOr types.str; default = null; description = "Log this user in without a password (a shell on the console)."; };
  };
  config.systemd.services = mkIf cfg.enable (lib.genAttrs (map (t: "getty-${t}") cfg.ttys) (n:
    let tty = lib.removePrefix "getty-" n; in {
      description = "Login prompt on ${tty}";
      wantedBy = [ "getty.target" ];
      after = [ "basic.target" ];
      # A switch must not cut off the session it may be typed in (as in NixOS).
      restartIfChanged = false;
      serviceConfig = {
        ExecStart = if cfg.autologinUser == null
          then "${pkgs.busybox}/bin/getty -L -l ${pkgs.busybox}/bin/login ${toString cfg.baudRate} ${tty} vt100"
          else "${pkgs.busybox}/bin/su -l ${cfg.autologinUser}";
        Restart = "always";
        RestartSec = 1;
        # An interactive shell ignores SIGTERM; the hangup ends it at once on shutdown.
        SendSIGHUP = true;
      } // lib.optionalAttrs (cfg.autologinUser != null) {
        StandardInput = "tty";
        StandardOutput = "tty";
        TTYPath = "/dev/${tty}";
      };
    }));
}
