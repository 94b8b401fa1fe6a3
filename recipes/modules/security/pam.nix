# PAM services as NixOS's security.pam.services: /etc/pam.d/NAME written from a
# few switches, or from the service's own `text`. Passwords are checked against
# /etc/shadow by pam_unix; modules are named by store path (Debian's
# libpam-modules seed), so no module search path is involved. The `other`
# service, which libpam reads for every service as its fallback, denies all and
# says so in the log (pam_warn), as NixOS's and Linux-PAM's documentation have it.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkDefault mkMerge types concatStrings optionalString mapAttrs' nameValuePair;
  pam = pkgs.bootstrap.seeds.libpam-modules;
  module = m: "${pam}/lib/x86_64-linux-gnu/security/${m}.so";

  serviceOptions = { name, config, ... }: {
    options = {
      name = mkOption { type = types.strMatching "[A-Za-z0-9_.-]+"; default = name; description = "Name of the PAM service (the file /etc/pam.d/NAME)."; };
      unixAuth = mkOption { type = types.bool; default = true; description = "Whether users may authenticate with their password in /etc/shadow (pam_unix)."; };
      rootOK = mkOption { type = types.bool; default = false; description = "Whether root is let in without a password (pam_rootok), as `su` does."; };
      setEnvironment = mkOption { type = types.bool; default = true; description = "Whether sessions get the variables of /etc/pam/environment (pam_env): the PATH of the system profile, for one."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "The whole contents of /etc/pam.d/NAME; by default made from the options above."; };
    };
    config.text = mkDefault (concatStrings [
      "# Written by b8g for security.pam.services.${name}.\n"
      "account required ${module "pam_unix"}\n"
      (optionalString config.rootOK "auth sufficient ${module "pam_rootok"}\n")
      (optionalString config.unixAuth "auth sufficient ${module "pam_unix"} likeauth try_first_pass\n")
      "auth required ${module "pam_deny"}\n"
      "password sufficient ${module "pam_unix"} nullok yescrypt\n"
      (optionalString config.setEnvironment "session required ${module "pam_env"} conffile=/etc/pam/environment readenv=0\n")
      "session required ${module "pam_unix"}\n"
    ]);
  };
in
{
  options.security.pam.services = mkOption {
    type = types.attrsOf (types.submoduleWith {
      modules = [ serviceOptions ];
      shorthandOnlyDefinesConfig = true;
      undeclaredHint = (import ../nixos-options.nix).hint;
    });
    default = { };
    description = "PAM services: each becomes /etc/pam.d/NAME.";
  };

  config = {
    security.pam.services.other.text = ''
      # Written by b8g: what a service without its own file gets (nothing).
      auth required ${module "pam_warn"}
      auth required ${module "pam_deny"}
      account required ${module "pam_warn"}
      account required ${module "pam_deny"}
      password required ${module "pam_warn"}
      password required ${module "pam_deny"}
      session required ${module "pam_warn"}
      session required ${module "pam_deny"}
    '';
    environment.etc = mkMerge [
      (mapAttrs' (n: s: nameValuePair "pam.d/${s.name}" { text = s.text; })
        config.security.pam.services)
      {
        # The PATH of PAM sessions (`ssh host cmd` runs a shell that reads no
        # profile; NixOS sets it through pam_env too).
        "pam/environment".text = ''
          PATH DEFAULT="/run/wrappers/bin:/etc/profiles/per-user/@{PAM_USER}/bin:/run/current-system/sw/bin:/run/current-system/sw/sbin"
        '';
      }
    ];
  };
}
