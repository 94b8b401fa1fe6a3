# system.healthChecks: commands that must succeed, after the default target is
# reached, before a boot counts as good. `b8g-boot-check.service` (b8gctl
# boot-check) waits for the default target, runs them, and marks the booted
# generation's entry good — or records why not and reboots, so stage 1 retries
# or falls back to the last good generation (see b8g_init::bootcheck).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  checks = config.system.healthChecks;
  script = pkgs.writeScript "health-checks" (''
    #!${pkgs.runtimeShell}
    export PATH=/run/current-system/sw/bin:${pkgs.busybox}/bin
  '' + lib.concatMapStrings (c: ''
    if ! ( ${c} ) >/dev/null 2>&1; then echo ${lib.escapeShellArg "health check failed: ${c}"}; exit 1; fi
  '') checks);
in
{
  options.system.healthChecks = mkOption {
    type = types.listOf types.str;
    default = [ ];
    example = [ "wget -q -O /dev/null http://127.0.0.1/" ];
    description = "Shell commands that must all succeed once the default target is reached for the boot to be marked good.";
  };
  config.systemd.services.b8g-boot-check = {
    description = "Mark the boot good once the default target is reached and the health checks pass";
    # Started early and on its own, so a failing default target cannot keep it from reporting.
    wantedBy = [ "sysinit.target" ];
    unitConfig.DefaultDependencies = false;
    serviceConfig = {
      Type = "simple";
      ExecStart = "${pkgs.b8g}/bin/b8gctl boot-check --health ${script}";
    };
  };
}
