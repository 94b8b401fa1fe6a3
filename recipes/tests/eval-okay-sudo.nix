# security.sudo as NixOS's: enabled by default, root and %wheel with SETENV,
# NOPASSWD for wheel when wheelNeedsPassword is false, extraRules in order,
# setuid wrappers for sudo and sudoedit, PAM by absolute module paths, and
# /etc/sudoers copied with mode 0440.
let
  strip = builtins.unsafeDiscardStringContext;
  sys = m: (import ./system.nix [ m ]).config;
  c = sys {
    security.sudo.wheelNeedsPassword = false;
    security.sudo.extraRules = [
      { users = [ "backup" 1001 ]; groups = [ "ops" ]; runAs = "root"; commands = [ "/bin/true" { command = "/bin/false x"; options = [ "NOPASSWD" "SETENV" ]; } "/bin/echo a,b:c=d\\e" ]; }
      { users = [ "nobody" ]; commands = [ ]; }
    ];
    security.sudo.extraConfig = "Defaults lecture=never";
  };
  d = sys { };
  wrapperLines = cfg: builtins.filter (l: builtins.isString l && builtins.match " *b8g_wrap .*" l != null)
    (builtins.split "\n" cfg.system.activationScripts.wrappers.text);
  noPath = s: builtins.replaceStrings [ (strip "${c.security.sudo.package}") ] [ "SUDO" ] (strip s);
in
{
  enabledByDefault = d.security.sudo.enable;
  defaultSudoers = d.security.sudo.configFile;
  sudoers = c.security.sudo.configFile;
  sudoersMode = c.environment.etc.sudoers.mode;
  sudoersChecked = (c.environment.etc.sudoers.source).name;
  wrappers = map noPath (wrapperLines c);
  wheelOnly = map noPath (wrapperLines (sys { security.sudo.execWheelOnly = true; }));
  disabled = wrapperLines (sys { security.sudo.enable = false; });
  sudoConf = noPath c.environment.etc."sudo.conf".text;
  pamLines = builtins.length (builtins.filter (l: builtins.isString l && builtins.match "(account|auth|password|session) .*/lib/x86_64-linux-gnu/security/pam_(unix|deny)[.]so.*" l != null)
    (builtins.split "\n" c.environment.etc."pam.d/sudo".text));
  path = builtins.head (builtins.match ".*export PATH=\"([^\"]*)\".*" c.environment.etc."set-environment".text);
}
