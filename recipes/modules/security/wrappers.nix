# security.wrappers: programs that must run setuid or setgid (sudo). The store
# cannot hold such files (its files are root's and never setuid), so activation
# copies each program into a fresh directory on a tmpfs mounted without nosuid at
# /run/wrappers, sets owner, group and mode there, and points /run/wrappers/bin at
# it; login shells put /run/wrappers/bin first on PATH, as NixOS does.
#
# Unlike NixOS's wrappers (a small C program that execs the real one), the copy is
# the program itself: its interpreter and RUNPATH are store paths, and a setuid
# program gets no LD_* from the environment (glibc's secure mode).
{ config, lib, ... }:
let
  inherit (lib) mkOption types mapAttrsToList concatStrings escapeShellArg;
  wrapper = { name, ... }: {
    options = {
      source = mkOption { type = types.either types.path types.str; description = "The program to install (a store path)."; };
      program = mkOption { type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.+-]*"; default = name; description = "Its name in /run/wrappers/bin."; };
      owner = mkOption { type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.-]*"; description = "Its owner."; };
      group = mkOption { type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.-]*"; description = "Its group."; };
      setuid = mkOption { type = types.bool; default = false; description = "Whether it runs as its owner (the setuid bit)."; };
      setgid = mkOption { type = types.bool; default = false; description = "Whether it runs with its group (the setgid bit)."; };
      permissions = mkOption {
        # Checked: it is one word of root's activation script.
        type = types.strMatching "[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*|[0-7]{3,4}";
        default = "u+rx,g+x,o+x";
        description = "chmod permissions (symbolic or octal), applied before the setuid and setgid bits.";
      };
    };
  };
  cfg = config.security.wrappers;
  install = w: ''
    b8g_wrap ${escapeShellArg "${w.source}"} ${escapeShellArg w.program} ${w.owner} ${w.group} ${w.permissions} ${if w.setuid then "u+s" else "u-s"} ${if w.setgid then "g+s" else "g-s"}
  '';
in
{
  options.security = {
    wrappers = mkOption {
      type = types.attrsOf (types.submodule wrapper);
      default = { };
      example = { ping = { source = "/nix/store/…/bin/ping"; owner = "root"; group = "root"; setuid = true; }; };
      description = "Programs copied to /run/wrappers/bin with the given owner, group, mode and setuid/setgid bits.";
    };
    wrapperDir = mkOption { type = types.str; default = "/run/wrappers/bin"; readOnly = true; description = "Where the wrappers are (first on PATH)."; };
  };
  # A setuid copy of a file someone else can write would be theirs to fill.
  config.assertions = lib.mapAttrsToList (n: w: {
    assertion = lib.hasPrefix "${builtins.storeDir}/" (toString w.source);
    message = "security.wrappers.${n}.source must be a store path (${toString w.source} is not): a setuid or setgid copy of a file others can write is theirs";
  }) cfg;
  config.system.activationScripts.wrappers = {
    deps = [ "specialfs" "users" ];
    text = ''
      # A tmpfs of its own: /run is mounted nosuid, which would void the setuid bits.
      mkdir -p /run/wrappers
      grep -q '^[^ ]* /run/wrappers ' /proc/mounts || mount -t tmpfs -o nodev,mode=0755 tmpfs /run/wrappers
      old=$(readlink /run/wrappers/bin || true)
      new=/run/wrappers/wrappers.$$
      rm -rf "$new"
      # Private until complete: an owner other than root could otherwise rewrite its
      # copy between the chown and the setgid bit.
      mkdir -m 0700 "$new"
      b8g_wrap() { # source program owner group permissions setuid setgid
        # Mode 0 until owner and bits are set: never a setuid file with the wrong owner.
        cp "$1" "$new/$2.tmp"
        chmod 0000 "$new/$2.tmp"
        chown "$3:$4" "$new/$2.tmp"
        case $5 in
          [0-7]*) chmod "$5" "$new/$2.tmp" ;;
          *) chmod "u-s,g-s,$5" "$new/$2.tmp" ;;
        esac
        chmod "$6,$7" "$new/$2.tmp"
        mv "$new/$2.tmp" "$new/$2"
      }
      ${concatStrings (mapAttrsToList (_: install) cfg)}
      chmod 0755 "$new"
      ln -sfn "$new" /run/wrappers/bin.tmp && mv -T /run/wrappers/bin.tmp /run/wrappers/bin
      case "$old" in /run/wrappers/wrappers.*) [ "$old" = "$new" ] || rm -rf "$old" ;; esac
    '';
  };
}
