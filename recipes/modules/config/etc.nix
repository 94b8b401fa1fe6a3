# environment.etc: the files of /etc, built into one store tree (<toplevel>/etc).
# Activation links /etc/<name> to /etc/static/<name> (symlink mode) or copies the
# file with its mode, user and group.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types filterAttrs mapAttrs' nameValuePair;
  etcOptions = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the file is installed."; };
      # One line of b8g-etc-modes: no newline (nor other control characters).
      target = mkOption { type = types.strMatching "[^[:cntrl:]]+"; default = name; description = "Path relative to /etc."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "Contents of the file."; };
      source = mkOption { type = types.nullOr (types.either types.path types.package); default = null; description = "Store path (or local path, copied into the store) holding the contents."; };
      # Checked: these go into b8g-etc-modes, which root's activation reads as words.
      mode = mkOption { type = types.strMatching "symlink|[0-7]{3,4}"; default = "symlink"; description = "`symlink`, or an octal mode such as `0640` to install a copy."; };
      user = mkOption { type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.-]*"; default = "root"; description = "Owner of a copied file."; };
      group = mkOption { type = types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.-]*"; default = "root"; description = "Group of a copied file."; };
    };
  };
  files = filterAttrs (_: f: f.enable) config.environment.etc;
  entry = f:
    if f.text != null then { type = "file"; inherit (f) text; executable = false; }
    else if f.source != null then { type = "symlink"; target = "${f.source}"; }
    else throw "environment.etc.\"${f.target}\" has neither text nor source";
in
{
  options.environment.etc = mkOption {
    type = types.attrsOf (types.submodule etcOptions);
    default = { };
    description = "Files in /etc.";
  };
  # /etc/static is the generation's link and .b8g-* activation's bookkeeping.
  config.assertions = map (f: {
    assertion = builtins.match "(static|[.]static[.]tmp|[.]b8g-.*)(/.*)?" f.target == null;
    message = "environment.etc.\"${f.target}\": /etc/static and /etc/.b8g-* are b8g's own (the generation's link and activation's records)";
  }) (builtins.attrValues files);
  config.system.build.etc = pkgs.b8gTree "etc" (mapAttrs' (_: f: nameValuePair f.target (entry f)) files);
  # Copied files and their metadata, read by the activation script.
  config.environment.etc."b8g-etc-modes".text = lib.concatMapStrings
    (f: "${f.mode} ${f.user} ${f.group} ${f.target}\n")
    (lib.filter (f: f.mode != "symlink") (builtins.attrValues files));
}
