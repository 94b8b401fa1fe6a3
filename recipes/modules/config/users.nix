# users.users / users.groups, rendered as /etc/passwd, /etc/group and /etc/shadow.
# Users and groups without an explicit id get one deterministically: system
# users count down from 999, normal users up from 1000, in name order.
{ config, lib, ... }:
let
  inherit (lib) mkOption types concatMapStrings filterAttrs;
  inherit (builtins) attrNames;
  cfg = config.users;

  userOptions = { name, config, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; description = "Login name."; };
      uid = mkOption { type = types.nullOr types.int; default = null; description = "User id; allocated when null."; };
      group = mkOption { type = types.str; default = "nogroup"; description = "Primary group."; };
      extraGroups = mkOption { type = types.listOf types.str; default = [ ]; description = "Supplementary groups."; };
      description = mkOption { type = types.str; default = ""; description = "GECOS field."; };
      home = mkOption { type = types.str; default = if config.isNormalUser then "/home/${name}" else "/var/empty"; description = "Home directory."; };
      createHome = mkOption { type = types.bool; default = config.isNormalUser; description = "Create the home directory at activation."; };
      shell = mkOption { type = types.str; default = "/run/current-system/sw/bin/sh"; description = "Login shell."; };
      hashedPassword = mkOption { type = types.nullOr types.str; default = null; description = "crypt(3) hash; null locks password login (`!`)."; };
      isSystemUser = mkOption { type = types.bool; default = false; description = "A system account (id below 1000)."; };
      isNormalUser = mkOption { type = types.bool; default = false; description = "A human account (id from 1000, home in /home)."; };
    };
  };
  groupOptions = { name, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; description = "Group name."; };
      gid = mkOption { type = types.nullOr types.int; default = null; description = "Group id; allocated when null."; };
      members = mkOption { type = types.listOf types.str; default = [ ]; description = "Members besides users listing it in extraGroups."; };
    };
  };

  allocate = set: idOf: isSystem:
    let
      names = attrNames set;
      taken = lib.concatMap (n: let i = idOf set.${n}; in if i == null then [ ] else [ i ]) names;
      free = start: step: acc: if builtins.elem start (taken ++ acc) then free (start + step) step acc else start;
      go = sys: start: step: builtins.foldl'
        (acc: n: if idOf set.${n} != null || isSystem set.${n} != sys then acc
          else acc // { ${n} = free start step (builtins.attrValues acc); })
        { } names;
      auto = go true 999 (-1) // go false 1000 1;
    in
    builtins.mapAttrs (n: v: if idOf v != null then idOf v else auto.${n}) set;

  uids = allocate cfg.users (u: u.uid) (u: !u.isNormalUser);
  gids = allocate cfg.groups (g: g.gid) (_: true);
  gidOf = u: if cfg.groups ? ${u.group} then gids.${u.group}
    else throw "user `${u.name}': primary group `${u.group}' is not in users.groups";
  membersOf = g: lib.unique (g.members ++ lib.concatMap (n: if builtins.elem g.name cfg.users.${n}.extraGroups then [ n ] else [ ]) (attrNames cfg.users));
  sortedBy = ids: set: lib.sortOn (n: ids.${n}) (attrNames set);
in
{
  options.users = {
    users = mkOption { type = types.attrsOf (types.submodule userOptions); default = { }; description = "User accounts."; };
    groups = mkOption { type = types.attrsOf (types.submodule groupOptions); default = { }; description = "Groups."; };
  };

  config = {
    users.users = {
      root = { uid = 0; group = "root"; home = "/root"; createHome = true; description = "System administrator"; };
      nobody = { uid = 65534; group = "nogroup"; isSystemUser = true; };
    };
    users.groups = {
      root.gid = 0;
      wheel.gid = 1;
      tty.gid = 5;
      disk.gid = 6;
      kmem.gid = 9;
      audio.gid = 17;
      video.gid = 26;
      users.gid = 100;
      nogroup.gid = 65534;
    };
    environment.etc.passwd.text = concatMapStrings
      (n: let u = cfg.users.${n}; in "${u.name}:x:${toString uids.${n}}:${toString (gidOf u)}:${u.description}:${u.home}:${u.shell}\n")
      (sortedBy uids cfg.users);
    environment.etc.group.text = concatMapStrings
      (n: let g = cfg.groups.${n}; in "${g.name}:x:${toString gids.${n}}:${lib.concatStringsSep "," (membersOf g)}\n")
      (sortedBy gids cfg.groups);
    environment.etc.shadow = {
      mode = "0640";
      text = concatMapStrings
        (n: let u = cfg.users.${n}; in "${u.name}:${if u.hashedPassword == null then "!" else u.hashedPassword}:1::::::\n")
        (sortedBy uids cfg.users);
    };
    assertions = map (n: {
      assertion = builtins.length (builtins.filter (m: uids.${m} == uids.${n}) (attrNames cfg.users)) == 1;
      message = "users.users.${n}: uid ${toString uids.${n}} is used by more than one user";
    }) (attrNames cfg.users);
    system.activationScripts.users = {
      deps = [ "etc" ];
      text = lib.concatMapStrings (n: let u = cfg.users.${n}; in lib.optionalString u.createHome ''
        mkdir -p ${lib.escapeShellArg u.home}
        chown ${toString uids.${n}}:${toString (gidOf u)} ${lib.escapeShellArg u.home}
        chmod 0700 ${lib.escapeShellArg u.home}
      '') (sortedBy uids cfg.users);
    };
  };
}
