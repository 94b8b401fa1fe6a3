# time.timeZone, as in NixOS: /etc/zoneinfo from the tzdata package, /etc/localtime
# a direct link to the zone (programs read the zone's name from the link), and
# /etc/timezone with the name (as Debian has it), built only when tzdata has
# the zone. Null means UTC.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkIf types escapeShellArg;
  tz = config.time.timeZone;
  zone = "/etc/zoneinfo/${tz}";
in
{
  options.time.timeZone = mkOption {
    type = types.nullOr (types.addCheck types.str (s: builtins.match ".* .*" s == null) // { description = "string without spaces"; });
    default = null;
    example = "America/New_York";
    description = "The time zone used when displaying times and dates (a name of the IANA database, such as `Europe/Berlin`); null means UTC.";
  };
  config = {
    environment.etc = mkIf (tz != null) {
      zoneinfo.source = "${pkgs.tzdata}/share/zoneinfo";
      # /etc/timezone is built only when tzdata has the zone: a misspelt zone fails
      # the build with its name rather than leaving /etc/localtime dangling.
      timezone.source = derivation {
        name = "timezone";
        system = "x86_64-linux";
        builder = pkgs.runtimeShell;
        args = [ "-c" ''
          if [ ! -f "$zoneinfo/$zone" ]; then
            echo "error: time.timeZone = \"$zone\" is not a zone of tzdata (names look like Europe/Berlin, America/New_York, UTC)" >&2
            exit 1
          fi
          echo "$zone" > "$out"
        '' ];
        zoneinfo = "${pkgs.tzdata}/share/zoneinfo";
        zone = tz;
        preferLocalBuild = true;
      };
    };
    environment.variables = mkIf (tz != null) { TZDIR = "/etc/zoneinfo"; };
    system.activationScripts.timezone = {
      deps = [ "etc" ];
      text = if tz == null then ''
        case "$(readlink /etc/localtime 2>/dev/null)" in /etc/zoneinfo/*) rm -f /etc/localtime ;; esac
      '' else ''
        ln -sfn ${escapeShellArg zone} /etc/.localtime.tmp && mv -T /etc/.localtime.tmp /etc/localtime
      '';
    };
  };
}
