# system.build.toplevel: one store path holding a whole generation, laid out as
# b8g-init and stage 1 expect:
#   kernel initrd init etc/ sw/ units/ activate kernel-params b8g-version
# (state-version with system.stateVersion)
# and, with boot.loader.systemd-boot.enable, systemd-boot and loader-timeout.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  checked = x:
    if failed != [ ] then throw "Failed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}"
    else lib.foldr (w: y: builtins.trace "warning: ${w}" y) x config.warnings;
  b = config.system.build;
  params = [ "b8g.system=@toplevel@" ] ++ config.boot.kernelParams;
in
{
  options.system = {
    name = mkOption { type = types.str; default = config.networking.hostName; description = "Name of the system, part of the toplevel's store path name."; };
    build = mkOption { type = types.lazyAttrsOf types.unspecified; default = { }; description = "The pieces of the system, built."; };
    stateVersion = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "24.05";
      description = "The NixOS-style release whose defaults for stateful data (database formats, state directories) this system was first installed with. Accepted from NixOS configurations and recorded in the generation (`state-version`); b8g has no defaults that depend on it yet.";
    };
    b8gVersion = mkOption { type = types.str; default = "0.1.0"; description = "b8g version recorded in the generation."; };
  };
  config.system.build.toplevel = checked (pkgs.b8gTree "b8g-system-${config.system.name}" ({
    kernel = { type = "symlink"; target = "${b.kernel}/vmlinuz"; };
    kernel-modules = { type = "symlink"; target = "${b.kernel}/lib/modules"; };
    initrd = { type = "symlink"; target = "${b.initrd}/initrd"; };
    init = { type = "symlink"; target = "${pkgs.b8g}/bin/b8g-init"; };
    etc = { type = "symlink"; target = "${b.etc}"; };
    sw = { type = "symlink"; target = "${b.sw}"; };
    units = { type = "symlink"; target = "${b.unitsChecked}"; };
    activate = { type = "symlink"; target = "${b.activate}"; };
    # `@toplevel@` stands for the generation's own path; the boot entry fills it in.
    kernel-params = { type = "file"; text = lib.concatStringsSep " " params + "\n"; };
    boot-tries = { type = "file"; text = "${toString config.boot.bootTries}\n"; };
    b8g-version = { type = "file"; text = "${config.system.b8gVersion}\n"; };
  } // lib.optionalAttrs (config.system.stateVersion != null) {
    state-version = { type = "file"; text = "${config.system.stateVersion}\n"; };
  } // lib.optionalAttrs config.boot.loader.systemd-boot.enable {
    systemd-boot = { type = "symlink"; target = "${pkgs.systemd-boot}/systemd-bootx64.efi"; };
    loader-timeout = { type = "file"; text = "${toString config.boot.loader.timeout}\n"; };
  }));
}
