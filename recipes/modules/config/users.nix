# users.users / users.groups, written at activation as /etc/passwd, /etc/group
# and /etc/shadow (passwords given in plain text are hashed there). With
# users.mutableUsers, as in NixOS, what was changed on the running system is
# kept: a password changed with `passwd`, and users and groups added to the
# files (by hand or a useradd; busybox-static has no adduser) whose names and
# ids the configuration does not use.
# Users and groups without an explicit id get one deterministically: system
# users count down from 999, normal users up from 1000, in name order.
# Defaults and assertions follow NixOS's users-groups.nix.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkDefault mkIf types concatMapStrings filterAttrs escapeShellArg;
  inherit (builtins) attrNames;
  cfg = config.users;
  nullOrStr = description: mkOption { type = types.nullOr types.str; default = null; inherit description; };
  # Names and fields go into /etc/passwd, /etc/group and root's activation script:
  # no `:`, no control characters, names as login names are written.
  nameType = types.strMatching "[A-Za-z_][A-Za-z0-9_.-]*[$]?";
  fieldType = types.strMatching "[^:[:cntrl:]]*";

  userOptions = { name, config, ... }: {
    options = {
      name = mkOption { type = nameType; default = name; description = "Login name."; };
      uid = mkOption { type = types.nullOr types.int; default = null; description = "User id; allocated when null."; };
      group = mkOption { type = types.either (types.enum [ "" ]) nameType; default = ""; description = "Primary group (`users` for a normal user; a system user must name one)."; };
      extraGroups = mkOption { type = types.listOf nameType; default = [ ]; description = "Supplementary groups."; };
      description = mkOption { type = fieldType; default = ""; description = "GECOS field."; };
      home = mkOption { type = fieldType; default = "/var/empty"; description = "Home directory (`/home/<name>` for a normal user)."; };
      homeMode = mkOption { type = types.strMatching "[0-7]{1,5}"; default = "700"; description = "Mode of the home directory (with createHome), set at every activation."; };
      createHome = mkOption { type = types.bool; default = false; description = "Create the home directory at activation (true for a normal user)."; };
      shell = mkOption {
        type = types.either types.package fieldType;
        default = "${pkgs.busybox}/bin/nologin";
        description = "Login shell: a path, or a package whose `shellPath` (or bin/sh) is the shell. System users get nologin; normal users and root `users.defaultUserShell`.";
      };
      openssh.authorizedKeys.keys = mkOption { type = types.listOf (types.strMatching "[^[:cntrl:]]+"); default = [ ]; description = "Public keys that may log in as this user over ssh (services.openssh), one per entry."; };
      openssh.authorizedKeys.keyFiles = mkOption { type = types.listOf types.path; default = [ ]; description = "Files of public keys that may log in as this user over ssh (read at evaluation)."; };
      packages = mkOption { type = types.listOf types.package; default = [ ]; description = "Packages in the user's profile, /etc/profiles/per-user/<name>, which is on the user's PATH."; };
      hashedPassword = nullOrStr "crypt(3) hash (`mkpasswd -m sha-512`); set on every activation unless users.mutableUsers keeps a changed one. With no password option set, password login is locked (`!`).";
      password = nullOrStr "The password in clear text, hashed at activation; it is readable by anyone in the store (prefer hashedPassword).";
      initialHashedPassword = nullOrStr "crypt(3) hash set when the user is created (with users.mutableUsers = false: when no other password is set).";
      initialPassword = nullOrStr "Clear-text password set when the user is created (readable by anyone in the store).";
      isSystemUser = mkOption { type = types.bool; default = false; description = "A system account (id below 1000). Exactly one of isSystemUser and isNormalUser must be set."; };
      isNormalUser = mkOption { type = types.bool; default = false; description = "A human account: id from 1000, group `users`, home /home/<name> created at activation, the default shell."; };
    };
    config = lib.mkMerge [
      (mkIf config.isNormalUser {
        group = mkDefault "users";
        home = mkDefault "/home/${config.name}";
        createHome = mkDefault true;
        shell = mkDefault cfg.defaultUserShell;
      })
      # As NixOS: without mutable users the initial password is the password.
      (mkIf (!cfg.mutableUsers && config.initialHashedPassword != null) { hashedPassword = mkDefault config.initialHashedPassword; })
      (mkIf (!cfg.mutableUsers && config.initialPassword != null) { password = mkDefault config.initialPassword; })
    ];
  };
  groupOptions = { name, ... }: {
    options = {
      name = mkOption { type = nameType; default = name; description = "Group name."; };
      gid = mkOption { type = types.nullOr types.int; default = null; description = "Group id; allocated when null."; };
      members = mkOption { type = types.listOf nameType; default = [ ]; description = "Members besides users listing it in extraGroups."; };
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
  # A shell package as NixOS takes it: its `shellPath`, else bin/<its name> (bin/bash for bash).
  shellPath = s: if builtins.isString s then s
    else "${s}${s.shellPath or "/bin/${s.pname or (builtins.parseDrvName s.name).name}"}";
  arg = s: if s == null then "''" else escapeShellArg s;
  # `name kind` lines (kind s: system, n: normal) of the ids left to b8g, in name order.
  autoUsers = concatMapStrings (n: let u = cfg.users.${n}; in lib.optionalString (u.uid == null) "${u.name} ${if u.isNormalUser then "n" else "s"}\n") (attrNames cfg.users);
  autoGroups = concatMapStrings (n: let g = cfg.groups.${n}; in lib.optionalString (g.gid == null) "${g.name} s\n") (attrNames cfg.groups);
  xor = a: b: a != b;
in
{
  options.users = {
    users = mkOption {
      type = types.attrsOf (types.submoduleWith {
        modules = [ userOptions ];
        shorthandOnlyDefinesConfig = true;
        undeclaredHint = (import ../nixos-options.nix).hint;
      });
      default = { };
      description = "User accounts.";
    };
    groups = mkOption { type = types.attrsOf (types.submodule groupOptions); default = { }; description = "Groups."; };
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = "Whether changes made on the running system are kept across activations: passwords changed with `passwd`, and users and groups added to /etc/passwd and /etc/group (when the configuration uses neither their names nor their ids). When false, /etc/passwd, /etc/group and /etc/shadow hold exactly the configuration.";
    };
    generatedFiles = mkOption {
      type = types.attrsOf types.str;
      readOnly = true;
      internal = true;
      description = "The passwd and group lines of the configuration (for inspection; activation writes them).";
    };
    defaultUserShell = mkOption {
      type = types.either types.package fieldType;
      default = "/run/current-system/sw/bin/sh";
      description = "The login shell of normal users and root.";
    };
  };

  config = {
    users.users = {
      root = { uid = 0; group = "root"; home = mkDefault "/root"; createHome = mkDefault true; description = "System administrator"; shell = mkDefault cfg.defaultUserShell; };
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
    users.generatedFiles = {
      passwd = concatMapStrings
        (n: let u = cfg.users.${n}; in "${u.name}:x:${toString uids.${n}}:${toString (gidOf u)}:${u.description}:${u.home}:${shellPath u.shell}\n")
        (sortedBy uids cfg.users);
      group = concatMapStrings
        (n: let g = cfg.groups.${n}; in "${g.name}:x:${toString gids.${n}}:${lib.concatStringsSep "," (membersOf g)}\n")
        (sortedBy gids cfg.groups);
    };
    environment.etc = lib.mapAttrs' (n: u: lib.nameValuePair "profiles/per-user/${u.name}" {
      source = pkgs.symlinkJoin { name = "user-environment"; paths = u.packages; };
    }) (filterAttrs (_: u: u.packages != [ ]) cfg.users);

    assertions = lib.concatMap (n: let u = cfg.users.${n}; in [
      {
        assertion = builtins.length (builtins.filter (m: uids.${m} == uids.${n}) (attrNames cfg.users)) == 1;
        message = "users.users.${n}: uid ${toString uids.${n}} is used by more than one user";
      }
      # NixOS's assertions, word for word.
      {
        assertion = xor (u.isSystemUser || (u.uid != null && u.uid < 1000)) u.isNormalUser;
        message = ''
          Exactly one of users.users.${u.name}.isSystemUser and users.users.${u.name}.isNormalUser must be set.
        '';
      }
      {
        assertion = u.group != "";
        message = ''
          users.users.${u.name}.group is unset. This used to default to
          nogroup, but this is unsafe. For example you can create a group
          for this user with:
          users.users.${u.name}.group = "${u.name}";
          users.groups.${u.name} = {};
        '';
      }
      {
        # A newline would make a second /etc/shadow line.
        assertion = builtins.all (h: h == null || builtins.match "[^[:cntrl:]]*" h != null) [ u.hashedPassword u.initialHashedPassword ];
        message = "The password hash of user \"${u.name}\" contains a control character (a newline would start another /etc/shadow line).";
      }
      {
        assertion = u.initialHashedPassword != null -> builtins.match ".*:.*" u.initialHashedPassword == null;
        message = "The initial password hash of user \"${u.name}\" contains a \":\" character: the fields of /etc/shadow are colon-separated.";
      }
      {
        assertion = u.hashedPassword != null -> builtins.match ".*:.*" u.hashedPassword == null;
        message = ''
          The password hash of user "${u.name}" contains a ":" character.
          This is invalid and would break the login system because the fields
          of /etc/shadow (file where hashes are stored) are colon-separated.
          Please check the value of option `users.users."${u.name}".hashedPassword`.'';
      }
    ]) (attrNames cfg.users);

    # Before etc: copied /etc files are chowned by name, which must resolve
    # against this generation's users.
    # NixOS's check that a hash looks like a crypt(3) one (a plain password given
    # as hashedPassword would lock the user out), word for word.
    warnings = lib.concatMap (n: let u = cfg.users.${n}; h = u.hashedPassword;
        sep = "\\$";
        base64 = "[a-zA-Z0-9./]+";
        id = "(y|gy|7|2b|2y|2a|6|5|sha1|md5|1)";
        name = "[a-z0-9-]+";
        value = "[a-zA-Z0-9/+.-]+";
        options = "${name}(=${value})?(,${name}=${value})*";
        mcf = "${sep}${id}(${sep}${options})?${sep}${base64}${sep}${base64}(${sep}${base64})?";
        locked = h == null || h == "" || lib.hasPrefix "!" h || h == "*";
      in lib.optional (!locked && builtins.match mcf h == null) ''
        The password hash of user "${u.name}" may be invalid. You must set a valid hash or the user will be locked out of their account. Please check the value of option `users.users."${u.name}".hashedPassword`.'')
      (attrNames cfg.users);

    system.activationScripts.users = {
      deps = [ "specialfs" ];
      text = ''
        mutable=${if cfg.mutableUsers then "1" else "0"}
        # /etc/passwd and /etc/group: the configuration's lines, and with mutable
        # users the lines of the running system whose name and id (field 3) the
        # configuration does not use.
        # The line of NAME in FILE, by exact name (grep would take `.` in `j.doe` as any character).
        b8g_line() { # name file
          [ -f "$2" ] || return 1
          while IFS= read -r l; do
            case "$l" in "$1":*) printf '%s\n' "$l"; return 0 ;; esac
          done < "$2"
          return 1
        }
        b8g_merge() { # generated current
          cp "$1" "$2.tmp"
          if [ $mutable = 1 ] && [ -f "$2" ] && [ ! -L "$2" ]; then
            while IFS= read -r line; do
              name=''${line%%:*}; id=$(printf '%s\n' "$line" | cut -d: -f3)
              [ -n "$name" ] && [ -n "$id" ] || continue
              b8g_line "$name" "$1" > /dev/null && continue
              cut -d: -f3 "$1" | grep -Fqx -- "$id" && continue
              printf '%s\n' "$line" >> "$2.tmp"
            done < "$2"
          fi
          chmod 0644 "$2.tmp"
          mv "$2.tmp" "$2"
        }
        # Ids the configuration leaves to b8g stay what they were on this system, as
        # NixOS's uid-map keeps them: numbering by name at evaluation alone would give
        # alice's uid (and her files) to a user named aaron added later. An id kept
        # from the running files must be free of the configuration's own ids; the
        # rest get the first free id, system ones down from 999, others up from 1000
        # (the evaluation's numbering when nothing is kept).
        b8g_keep_ids() { # generated current auto-list(name kind, in name order) map-out
          : > "$1.taken"
          while IFS= read -r l; do
            n=''${l%%:*}
            b8g_auto_kind "$n" "$3" > /dev/null || printf '%s\n' "$l" | cut -d: -f3 >> "$1.taken"
          done < "$1"
          # Lines of the running system that the merge keeps hold their ids too.
          if [ $mutable = 1 ] && [ -f "$2" ] && [ ! -L "$2" ]; then
            while IFS= read -r l; do
              n=''${l%%:*}
              b8g_line "$n" "$1" > /dev/null || printf '%s\n' "$l" | cut -d: -f3 >> "$1.taken"
            done < "$2"
          fi
          : > "$1.ids"
          while read -r n kind; do
            id=
            if [ -f "$2" ] && [ ! -L "$2" ] && l=$(b8g_line "$n" "$2"); then
              id=$(printf '%s\n' "$l" | cut -d: -f3)
              case $id in ""|*[!0-9]*) id= ;; esac
              if [ -n "$id" ] && grep -Fqx -- "$id" "$1.taken"; then id=; fi
            fi
            [ -n "$id" ] && { echo "$n $id" >> "$1.ids"; echo "$id" >> "$1.taken"; }
          done < "$3"
          while read -r n kind; do
            b8g_line_ids "$n" "$1.ids" > /dev/null && continue
            if [ "$kind" = s ]; then id=999; step=-1; else id=1000; step=1; fi
            while grep -Fqx -- "$id" "$1.taken"; do id=$((id + step)); done
            echo "$n $id" >> "$1.ids"; echo "$id" >> "$1.taken"
          done < "$3"
          # Rewrite field 3 of the auto lines; $4 maps each old id to the new one.
          : > "$1.new"; : > "$4"
          while IFS= read -r l; do
            n=''${l%%:*}; rest=''${l#*:}; pw=''${rest%%:*}; rest=''${rest#*:}; old=''${rest%%:*}; rest=''${rest#*:}
            if new=$(b8g_line_ids "$n" "$1.ids"); then
              echo "$old $new" >> "$4"
              printf '%s:%s:%s:%s\n' "$n" "$pw" "$new" "$rest" >> "$1.new"
            else
              printf '%s\n' "$l" >> "$1.new"
            fi
          done < "$1"
          mv "$1.new" "$1"
          rm -f "$1.taken" "$1.ids"
        }
        # Whether NAME is in an auto list (`name kind` lines); prints the kind.
        b8g_auto_kind() { # name list
          while read -r an ak; do [ "$an" = "$1" ] && { echo "$ak"; return 0; }; done < "$2"
          return 1
        }
        # The id b8g_keep_ids chose for NAME.
        b8g_line_ids() { # name ids-file
          while read -r an ai; do [ "$an" = "$1" ] && { echo "$ai"; return 0; }; done < "$2"
          return 1
        }
        # One shell word each (escapeShellArg), whatever the lines hold.
        printf '%s' ${escapeShellArg cfg.generatedFiles.passwd} > /etc/.b8g-passwd
        printf '%s' ${escapeShellArg cfg.generatedFiles.group} > /etc/.b8g-group
        printf '%s' ${escapeShellArg autoUsers} > /etc/.b8g-auto-users
        printf '%s' ${escapeShellArg autoGroups} > /etc/.b8g-auto-groups
        b8g_keep_ids /etc/.b8g-group /etc/group /etc/.b8g-auto-groups /etc/.b8g-gid-map
        # The primary groups' ids (field 4) follow their groups.
        : > /etc/.b8g-passwd.new
        while IFS= read -r l; do
          f4=$(printf '%s\n' "$l" | cut -d: -f4)
          if g=$(b8g_line_ids "$f4" /etc/.b8g-gid-map); then
            head3=$(printf '%s\n' "$l" | cut -d: -f1-3); tail3=$(printf '%s\n' "$l" | cut -d: -f5-)
            printf '%s:%s:%s\n' "$head3" "$g" "$tail3" >> /etc/.b8g-passwd.new
          else
            printf '%s\n' "$l" >> /etc/.b8g-passwd.new
          fi
        done < /etc/.b8g-passwd
        mv /etc/.b8g-passwd.new /etc/.b8g-passwd
        b8g_keep_ids /etc/.b8g-passwd /etc/passwd /etc/.b8g-auto-users /etc/.b8g-uid-map
        rm -f /etc/.b8g-auto-users /etc/.b8g-auto-groups /etc/.b8g-gid-map /etc/.b8g-uid-map
        b8g_merge /etc/.b8g-passwd /etc/passwd
        b8g_merge /etc/.b8g-group /etc/group
        rm -f /etc/.b8g-passwd /etc/.b8g-group
        # /etc/shadow: a user already in it keeps the password it has when users
        # are mutable; otherwise the configured one (plain text hashed here).
        b8g_shadow_user() { # name hash plain initial-hash initial-plain
          known=0; old=
          if line=$(b8g_line "$1" /etc/shadow); then known=1; old=''${line#*:}; old=''${old%%:*}; fi
          if [ "$known" = 1 ] && [ $mutable = 1 ]; then pw=$old
          elif [ -n "$2" ]; then pw=$2
          elif [ -n "$3" ]; then pw=$(printf '%s' "$3" | mkpasswd -m sha512 -P 0)
          elif [ "$known" = 0 ] && [ -n "$4" ]; then pw=$4
          elif [ "$known" = 0 ] && [ -n "$5" ]; then pw=$(printf '%s' "$5" | mkpasswd -m sha512 -P 0)
          else pw='!'
          fi
          printf '%s:%s:1::::::\n' "$1" "$pw" >> /etc/shadow.tmp
        }
        rm -f /etc/shadow.tmp
        (umask 077 && : > /etc/shadow.tmp)
      '' + concatMapStrings (n: let u = cfg.users.${n}; in
        "b8g_shadow_user ${escapeShellArg u.name} ${arg u.hashedPassword} ${arg u.password} ${arg u.initialHashedPassword} ${arg u.initialPassword}\n")
        (sortedBy uids cfg.users)
      + ''
        # Users kept in /etc/passwd keep their shadow line.
        if [ $mutable = 1 ] && [ -f /etc/shadow ]; then
          while IFS= read -r line; do
            name=''${line%%:*}
            [ -n "$name" ] || continue
            b8g_line "$name" /etc/shadow.tmp > /dev/null && continue
            b8g_line "$name" /etc/passwd > /dev/null && printf '%s\n' "$line" >> /etc/shadow.tmp
          done < /etc/shadow
        fi
        chmod 0640 /etc/shadow.tmp
        chown 0:0 /etc/shadow.tmp 2>/dev/null || true
        mv /etc/shadow.tmp /etc/shadow
      '' + concatMapStrings (n: let u = cfg.users.${n}; in lib.optionalString u.createHome ''
        mkdir -p ${escapeShellArg u.home}
        chown ${escapeShellArg "${u.name}:${u.group}"} ${escapeShellArg u.home}
        chmod ${u.homeMode} ${escapeShellArg u.home}
      '') (sortedBy uids cfg.users);
    };
  };
}
