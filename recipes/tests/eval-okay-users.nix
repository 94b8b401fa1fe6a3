# NixOS's user defaults: a normal user gets group `users', /home/<name> (created)
# and the default shell; a system user nologin; per-user packages in
# /etc/profiles/per-user/<name>; /etc/shadow written at activation.
let
  pkgs = import ./fake-pkgs.nix;
  sys = import ./system.nix [{
    users.users.alice = { isNormalUser = true; packages = [ pkgs.nginx ]; initialPassword = "changeme"; };
    users.users.svc = { isSystemUser = true; group = "svc"; };
    users.groups.svc = { };
    users.users.bob = { isNormalUser = true; hashedPassword = "$6$salt$hash"; shell = "/bin/custom"; };
    # A shell given as a package: bin/<its name>, as NixOS's shellPath.
    users.users.dave = { isNormalUser = true; shell = derivation { name = "bash-5.2"; system = "builtin"; builder = "builtin:fake"; }; };
  }];
  c = sys.config;
  strip = builtins.unsafeDiscardStringContext;
  u = n: { inherit (c.users.users.${n}) group home createHome; shell = strip c.users.users.${n}.shell; };
  lines = builtins.filter (l: builtins.isString l && builtins.match "b8g_shadow_user .*" l != null)
    (builtins.split "\n" c.system.activationScripts.users.text);
in
{
  alice = u "alice";
  bob = u "bob";
  svc = u "svc";
  passwd = strip c.users.generatedFiles.passwd;
  profile = (builtins.head (builtins.fromJSON (strip c.environment.etc."profiles/per-user/alice".source.tree))."".sources) == strip "${pkgs.nginx}";
  noProfileWithoutPackages = c.environment.etc ? "profiles/per-user/bob";
  shadow = lines;
  mutable = c.users.mutableUsers;
  immutableAlice = (import ./system.nix [{ users.mutableUsers = false; users.users.alice = { isNormalUser = true; initialPassword = "changeme"; }; }]).config.users.users.alice.password;
}
