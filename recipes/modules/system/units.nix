# systemd.services / targets / sockets / timers / mounts: unit files for b8g-init.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types mapAttrsToList filterAttrs concatStringsSep optionalAttrs;
  unitLib = import ./unit-lib.nix { inherit lib; };
  cfg = config.systemd;

  unitOption = types.oneOf [ types.bool types.int types.str types.path types.package (types.listOf (types.oneOf [ types.int types.str types.path types.package ])) ];
  listOfNames = mkOption { type = types.listOf types.str; default = [ ]; };

  commonOptions = {
    enable = mkOption { type = types.bool; default = true; description = "Whether the unit is part of the system."; };
    description = mkOption { type = types.str; default = ""; description = "The unit's Description=."; };
    documentation = listOfNames;
    wantedBy = listOfNames // { description = "Units that want this one (its [Install] WantedBy=, applied as .wants links)."; };
    requiredBy = listOfNames;
    wants = listOfNames;
    requires = listOfNames;
    after = listOfNames;
    before = listOfNames;
    bindsTo = listOfNames;
    partOf = listOfNames;
    conflicts = listOfNames;
    requisite = listOfNames;
    onFailure = listOfNames // { description = "Units started when this one fails (OnFailure=)."; };
    unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; description = "Extra [Unit] directives."; };
  };

  unitSection = name: u: unitLib.renderSection "Unit" ({
    Description = if u.description == "" then null else u.description;
    Documentation = u.documentation;
    Wants = u.wants; Requires = u.requires; After = u.after; Before = u.before;
    BindsTo = u.bindsTo; PartOf = u.partOf; Conflicts = u.conflicts; Requisite = u.requisite;
    OnFailure = u.onFailure;
    StartLimitBurst = u.startLimitBurst or null; StartLimitIntervalSec = u.startLimitIntervalSec or null;
  } // u.unitConfig);
  installSection = u: unitLib.renderSection "Install" { WantedBy = u.wantedBy; RequiredBy = u.requiredBy; };

  serviceOptions = { name, config, ... }: {
    options = commonOptions // {
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
        description = "Environment variables of the service's processes.";
      };
      path = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
        description = "Packages whose bin/ and sbin/ go on the service's PATH.";
      };
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; description = "[Service] directives."; };
      script = mkOption { type = types.lines; default = ""; description = "Shell commands run as ExecStart."; };
      preStart = mkOption { type = types.lines; default = ""; description = "Shell commands run as ExecStartPre."; };
      postStart = mkOption { type = types.lines; default = ""; description = "Shell commands run as ExecStartPost."; };
      preStop = mkOption { type = types.lines; default = ""; description = "Shell commands run to stop the service (ExecStop), as in NixOS."; };
      postStop = mkOption { type = types.lines; default = ""; description = "Shell commands run after the service stopped (ExecStopPost)."; };
      reload = mkOption { type = types.lines; default = ""; description = "Shell commands run to reload the service (ExecReload)."; };
      startLimitBurst = mkOption { type = types.nullOr types.int; default = null; description = "The unit's StartLimitBurst= (systemd's default: 5)."; };
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; description = "The unit's StartLimitIntervalSec= in seconds (systemd's default: 10)."; };
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "Values whose change restarts the service on switch."; };
      restartIfChanged = mkOption { type = types.bool; default = true; description = "Whether `b8g system switch` restarts the service when its unit changed; when false it keeps running the old one until it stops or the system reboots."; };
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
        example = "Sun 14:00:00";
        apply = v: if builtins.isList v then v else [ v ];
        description = "When to start the service (systemd.time calendar events, such as `daily` or `*-*-* 04:00:00`): a `<name>.timer` with these OnCalendar= is made, as in NixOS.";
      };
      reloadIfChanged = mkOption { type = types.bool; default = false; description = "Whether `b8g system switch` reloads (ExecReload) rather than restarts the service when its unit changed."; };
    };
    config.environment.PATH = lib.mkDefault (
      let paths = config.path ++ cfg.defaultPath; in
      if paths == [ ] then null else concatStringsSep ":" (lib.concatMap (p: [ "${p}/bin" "${p}/sbin" ]) paths));
  };

  serviceText = name: s:
    let
      # As NixOS's unit scripts: the shell stops at the first failing command.
      # Store path names allow no backslash (escaped unit names have them), as NixOS's mkScriptName.
      script = kind: text: "${pkgs.writeScript (lib.replaceStrings [ "\\" ] [ "-" ] "${name}-${kind}") "#!${pkgs.runtimeShell}\nset -e\n${text}"}";
      env = lib.filterAttrs (_: v: v != null) s.environment;
    in
    unitSection name s
    + unitLib.renderSection "Service" ({
      Environment = mapAttrsToList unitLib.envLine env;
    }
    // optionalAttrs (s.script != "") { ExecStart = script "start" s.script; }
    // optionalAttrs (s.preStart != "") { ExecStartPre = script "pre-start" s.preStart; }
    // optionalAttrs (s.postStart != "") { ExecStartPost = script "post-start" s.postStart; }
    // optionalAttrs (s.preStop != "") { ExecStop = script "pre-stop" s.preStop; }
    // optionalAttrs (s.postStop != "") { ExecStopPost = script "post-stop" s.postStop; }
    // optionalAttrs (s.reload != "") { ExecReload = script "reload" s.reload; }
    // optionalAttrs (s.restartTriggers != [ ]) { X-Restart-Triggers = builtins.hashString "sha256" (builtins.toJSON s.restartTriggers); }
    // optionalAttrs (!s.restartIfChanged) { X-RestartIfChanged = false; }
    // optionalAttrs s.reloadIfChanged { X-ReloadIfChanged = true; }
    // s.serviceConfig)
    + installSection s;

  simpleUnitOptions = section: { ... }: {
    options = commonOptions // {
      "${section}Config" = mkOption { type = types.attrsOf unitOption; default = { }; description = "[${lib.strings.toUpper (builtins.substring 0 1 section)}${builtins.substring 1 99 section}] directives."; };
    };
  };
  simpleText = sectionName: key: name: u: unitSection name u + unitLib.renderSection sectionName u.${key} + installSection u;

  enabled = filterAttrs (_: u: u.enable);
  allUnits =
    mapAttrsToList (n: s: { name = "${n}.service"; unit = s; text = serviceText n s; }) (enabled cfg.services)
    ++ mapAttrsToList (n: t: { name = "${n}.target"; unit = t; text = unitSection n t + installSection t; }) (enabled cfg.targets)
    ++ mapAttrsToList (n: t: { name = "${n}.socket"; unit = t; text = simpleText "Socket" "socketConfig" n t; }) (enabled cfg.sockets)
    ++ mapAttrsToList (n: t: { name = "${n}.timer"; unit = t; text = simpleText "Timer" "timerConfig" n t; }) (enabled cfg.timers)
    ++ mapAttrsToList (n: t: { name = "${n}.mount"; unit = t; text = simpleText "Mount" "mountConfig" n t; }) (enabled cfg.mounts)
    ++ mapAttrsToList (n: t: { name = "${n}.path"; unit = t; text = simpleText "Path" "pathConfig" n t; }) (enabled cfg.paths);

  links = lib.concatMap (u:
    map (w: { name = "${w}.wants/${u.name}"; value = { type = "symlink"; target = "../${u.name}"; }; }) u.unit.wantedBy
    ++ map (w: { name = "${w}.requires/${u.name}"; value = { type = "symlink"; target = "../${u.name}"; }; }) u.unit.requiredBy
  ) allUnits;
in
{
  options.systemd = {
    services = mkOption { type = types.attrsOf (types.submoduleWith { modules = [ serviceOptions ]; shorthandOnlyDefinesConfig = true; undeclaredHint = (import ../nixos-options.nix).hint; }); default = { }; description = "Services run by b8g-init, rendered as unit files."; };
    targets = mkOption { type = types.attrsOf (types.submodule { options = commonOptions; }); default = { }; description = "Target units."; };
    sockets = mkOption { type = types.attrsOf (types.submodule (simpleUnitOptions "socket")); default = { }; description = "Socket units (socket activation)."; };
    timers = mkOption { type = types.attrsOf (types.submodule (simpleUnitOptions "timer")); default = { }; description = "Timer units."; };
    mounts = mkOption { type = types.attrsOf (types.submodule (simpleUnitOptions "mount")); default = { }; description = "Mount units, named by their escaped mount point."; };
    paths = mkOption { type = types.attrsOf (types.submodule (simpleUnitOptions "path")); default = { }; description = "Path units: start a unit when files appear or change."; };
    defaultPath = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; description = "Packages on every service's PATH."; };
    defaultTarget = mkOption { type = types.str; default = "multi-user.target"; description = "The target b8g-init starts at boot."; };
    unitFiles = mkOption { type = types.attrsOf types.str; readOnly = true; description = "The rendered unit files by name (for inspection)."; };
  };

  # startAt: one timer per service, as NixOS's systemd module makes it.
  config.systemd.timers = lib.mapAttrs (_: s: {
    wantedBy = [ "timers.target" ];
    timerConfig.OnCalendar = s.startAt;
  }) (filterAttrs (_: s: s.enable && s.startAt != [ ]) cfg.services);

  # NixOS: `script` defines ExecStart, so an ExecStart of one's own conflicts with it.
  config.assertions = lib.mapAttrsToList (n: s: {
    assertion = !(s.script != "" && s.serviceConfig ? ExecStart);
    message = "The option `systemd.services.${n}.serviceConfig.ExecStart' has conflicting definition values: `systemd.services.${n}.script' defines ExecStart too. Set one of them.";
  }) config.systemd.services;
  config.systemd.unitFiles = builtins.listToAttrs (map (u: { inherit (u) name; value = u.text; }) allUnits);
  # The units, checked by b8g-init's own parser at build time (`b8gctl verify
  # --strict`, run in the sandbox): a unit it rejects, or a directive it does not
  # know (a typo such as `Tpye=`), fails the build with the file name and line.
  # The output is a link to the checked tree; the toplevel's `units` points at it.
  config.system.build.unitsChecked = derivation {
    name = "b8g-units-checked";
    system = "x86_64-linux";
    builder = pkgs.runtimeShell;
    args = [ "-c" ''
      cd "$units" || exit 1
      set --
      for f in *; do if [ -f "$f" ] && [ ! -L "$f" ]; then set -- "$@" "$f"; fi; done
      # A b8gctl older than --strict (a stale --b8g-bin) still checks, typos as warnings.
      strict=--strict
      if ! "$b8gctl" --help | "$grep" -q -e "verify \[--strict\]"; then
        echo "warning: this b8gctl has no verify --strict (rebuild the static binaries: cargo xtask); unknown directives are only warned about" >&2
        strict=
      fi
      if [ $# -gt 0 ] && ! "$b8gctl" verify $strict "$@"; then
        echo "error: b8gctl verify rejected a generated unit file (the lines above name the file and line): check its systemd.services.<name>.serviceConfig (or unitConfig, timerConfig, ...)" >&2
        exit 1
      fi
      "$ln" -s "$units" "$out"
    '' ];
    units = config.system.build.units;
    b8gctl = "${pkgs.b8g}/bin/b8gctl";
    ln = "${pkgs.busybox}/bin/ln";
    grep = "${pkgs.busybox}/bin/grep";
    preferLocalBuild = true;
  };
  config.system.build.units = pkgs.b8gTree "b8g-units"
    (builtins.listToAttrs (map (u: { inherit (u) name; value = { type = "file"; text = u.text; }; }) allUnits)
      // builtins.listToAttrs links
      // { "default.target" = { type = "symlink"; target = cfg.defaultTarget; }; });
}
