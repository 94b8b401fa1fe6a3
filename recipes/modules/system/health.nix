# system.healthChecks: commands that must succeed and units that must be active,
# after the default target is reached, before a boot counts as good. `b8g-boot-check.service` (b8gctl
# boot-check) waits for the default target, runs them, and marks the booted
# generation's entry good — or records why not and reboots, so stage 1 retries
# or falls back to the last good generation (see b8g_init::bootcheck).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  checks = config.system.healthChecks;
  commands = builtins.filter builtins.isString checks;
  units = map (c: c.unit) (builtins.filter (c: !builtins.isString c) checks);
  script = pkgs.writeScript "health-checks" (''
    #!${pkgs.runtimeShell}
    export PATH=/run/current-system/sw/bin:${pkgs.busybox}/bin
  '' + lib.concatMapStrings (c: ''
    if ! ( ${c} ) >/dev/null 2>&1; then echo ${lib.escapeShellArg "health check failed: ${c}"}; exit 1; fi
  '') commands);
in
{
  options.system.healthChecks = mkOption {
    type = types.listOf (types.either types.str (types.submodule {
      options.unit = mkOption {
        type = types.str;
        description = "A unit that must be active (a unit still starting is waited for).";
      };
    }));
    default = [ ];
    example = [ "wget -q -O /dev/null http://127.0.0.1/" { unit = "nginx.service"; } ];
    description = "Shell commands that must all succeed, and units (`{ unit = \"NAME\"; }`) that must all be active, once the default target is reached for the boot to be marked good.";
  };
  config.systemd.services.b8g-boot-check = {
    description = "Mark the boot good once the default target is reached and the health checks pass";
    # Started early and on its own, so a failing default target cannot keep it from reporting.
    wantedBy = [ "sysinit.target" ];
    unitConfig.DefaultDependencies = false;
    serviceConfig = {
      Type = "simple";
      ExecStart = "${pkgs.b8g}/bin/b8gctl boot-check --health ${script}"
        + lib.concatMapStrings (u: " --unit ${lib.escapeShellArg u}") units;
    };
  };
}
