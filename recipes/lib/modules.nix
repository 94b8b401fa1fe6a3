# The module system: evalModules, definitions with priorities and conditions.
#
# A module is an attribute set `{ imports; options; config; }` (or the shorthand
# where everything is config), a function returning one, or a path to a file
# holding either. evalModules collects the modules and their imports, merges the
# option declarations into one tree, and computes every option's value lazily
# from all definitions: `config` is a fixed point that modules receive as an
# argument.
{ lib }:
let
  inherit (builtins)
    isAttrs isFunction isList isPath isString isBool attrNames hasAttr concatMap filter foldl' head
    length listToAttrs mapAttrs removeAttrs elem genericClosure functionArgs intersectAttrs;
  inherit (lib.options) mkOption isOption showOption showDefs showFiles;
  typeOf' = v: if isAttrs v then v._type or null else null;
in
rec {
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;
  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  # Splits a definition of an attribute set into definitions of its attributes,
  # moving mkIf/mkOverride/mkMerge down a level without evaluating conditions
  # (so a condition may depend on `config`).
  pushDownProperties = cfg:
    let t = typeOf' cfg; in
    if t == "merge" then concatMap pushDownProperties cfg.contents
    else if t == "if" then map (mapAttrs (_: v: mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if t == "override" then map (mapAttrs (_: v: mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];

  # Turns one definition into the list of values it stands for: mkMerge splits,
  # mkIf keeps or drops its content.
  dischargeProperties = def:
    let t = typeOf' def; in
    if t == "merge" then concatMap dischargeProperties def.contents
    else if t == "if" then
      if !isBool def.condition then throw "mkIf called with a non-Boolean condition"
      else if def.condition then dischargeProperties def.content
      else [ ]
    else if t == "override" then map (mkOverride def.priority) (dischargeProperties def.content)
    else [ def ];

  # Merges the definitions (`[{ file; value; }]`) of one option of type `type` at `loc`.
  # Returns { isDefined; mergedValue; defsFinal; highestPrio; }.
  mergeDefinitions = loc: type: defs:
    let
      discharged = concatMap (d: map (value: { inherit (d) file; inherit value; pos = d.pos or null; }) (dischargeProperties d.value)) defs;
      prioOf = d: if typeOf' d.value == "override" then d.value.priority else defaultOverridePriority;
      highestPrio = foldl' (p: d: let q = prioOf d; in if q < p then q else p) 9999 discharged;
      strip = tag: d: if typeOf' d.value == tag then d // { value = d.value.content; } else d;
      kept = map (strip "override") (filter (d: prioOf d == highestPrio) discharged);
      orderOf = d: if typeOf' d.value == "order" then d.value.priority else defaultOrderPriority;
      sorted = map (strip "order") (lib.lists.sortOn orderOf kept);
      # A mismatch names the option, the expected type, the offending values
      # and every file whose definition counts, so the user sees where to look.
      badDefs = filter (d: !type.check d.value) sorted;
      checked =
        if badDefs == [ ] then sorted
        else throw ("A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:\n${showDefs badDefs}\n"
          + "The option is defined in ${showFiles (lib.lists.unique (map (d: d.file) sorted))}.");
      isDefined = sorted != [ ];
    in
    {
      inherit isDefined highestPrio;
      defsFinal = sorted;
      mergedValue =
        if isDefined then type.merge loc checked
        else throw "The option `${showOption loc}' is used but not defined.";
    };

  # `undeclaredHint loc` may explain an undeclared option (a string) or return
  # null; the system's eval-config uses it to name options NixOS has and b8g lacks.
  evalModules = { modules, specialArgs ? { }, prefix ? [ ], undeclaredHint ? (_: null) }:
    let
      internalModule = {
        _file = "<b8g lib: evalModules>";
        key = "<b8g lib: evalModules>";
        options._module.args = mkOption {
          type = lib.types.lazyAttrsOf lib.types.raw;
          default = { };
          internal = true;
          description = "Extra arguments passed to every module (`_module.args.pkgs = ...`).";
        };
      };

      # Arguments a module function asks for: special arguments first (they are
      # known before any module is evaluated), then `_module.args`.
      moduleArgs = specialArgs // { inherit lib config options; };
      applyModule = f:
        let fa = functionArgs f;
        in if fa == { } then f moduleArgs
        else f (mapAttrs (n: _: moduleArgs.${n} or config._module.args.${n} or (throw
          "module argument `${n}' is not available: pass it with specialArgs or _module.args.${n}")) fa);

      normalize = file: key: m0:
        let
          m = if isFunction m0 then applyModule m0 else m0;
          file' = toString (m._file or file);
          special = [ "_file" "key" "imports" "disabledModules" "meta" ];
          shorthand = !(m ? config || m ? options);
          unknown = filter (n: !(elem n (special ++ [ "config" "options" ]))) (attrNames m);
        in
        if !isAttrs m then throw "module `${file}' is not an attribute set or a function returning one"
        else if !shorthand && unknown != [ ] then
          throw "module `${file'}' has an unsupported attribute `${head unknown}': put it under `config' (or remove `options'/`config' to use the shorthand)"
        else {
          _file = file';
          key = toString (m.key or key);
          imports = m.imports or [ ];
          disabledModules = map toString (m.disabledModules or [ ]);
          options = m.options or { };
          config = if shorthand then removeAttrs m special else m.config or { };
        };

      load = parentKey: i: m:
        if isPath m || (isString m && lib.strings.hasPrefix "/" m) then
          normalize (toString m) (toString m) (import m)
        else let key = "${parentKey}:anon-${toString i}"; in normalize key key m;

      loadList = parentKey: ms: lib.lists.imap1 (load parentKey) ms;

      closure = genericClosure {
        startSet = map (m: { inherit (m) key; module = m; })
          (loadList "<evalModules>" ([ internalModule ] ++ modules));
        operator = item: map (m: { inherit (m) key; module = m; }) (loadList item.key item.module.imports);
      };
      disabled = concatMap (i: i.module.disabledModules) closure;
      collected = map (i: i.module)
        (filter (i: !(elem i.key disabled) && !(elem (baseNameOf i.key) disabled)) closure);

      # The tree of option declarations of all modules.
      declTree = foldl' (acc: m: mergeDecls m._file acc m.options) { } collected;
      mergeDecls = file: acc: opts:
        acc // mapAttrs
          (n: v:
            let old = acc.${n} or null; in
            if isOption v then
              let v' = v // { declarations = [ file ]; }; in
              if old == null then v'
              else if isOption old then mergeOptionDecls (prefix ++ [ n ]) old v'
              else throw "The option `${showOption (prefix ++ [ n ])}' in `${file}' is already declared as a set of options"
            else if !isAttrs v then
              throw "In `${file}': `${showOption (prefix ++ [ n ])}' is neither an option declaration nor a set of options"
            else if old != null && isOption old then
              throw "The option `${showOption (prefix ++ [ n ])}' in `${showFiles old.declarations}' is a prefix of options declared in `${file}'"
            else mergeDecls file (if old == null then { } else old) v)
          opts;
      mergeOptionDecls = loc: a: b:
        let
          bothSub = a ? type && b ? type && a.type.name == "submodule" && b.type.name == "submodule";
          clash = n: a ? ${n} && b ? ${n} && !(n == "type" && bothSub);
          clashes = filter clash [ "type" "default" "apply" "description" ];
        in
        if clashes != [ ] then
          throw "The option `${showOption loc}' is declared twice with `${head clashes}', in ${showFiles (a.declarations ++ b.declarations)}"
        else a // b // {
          declarations = a.declarations ++ b.declarations;
        } // (if bothSub then { type = lib.types.submoduleWith { modules = a.type.getSubModules ++ b.type.getSubModules; }; } else { });

      # Definitions of every module at the top level.
      topDefs = map (m: { file = m._file; value = m.config; }) collected;

      pushDefs = loc: defs: concatMap
        (d: map
          (v:
            if isAttrs v then { inherit (d) file; value = v; }
            else throw "In `${d.file}': `${showOption loc}' is a set of options, but is defined as ${lib.options.showValue v}")
          (pushDownProperties d.value))
        defs;

      # `pos` (where the attribute is written, when known) lets errors name the line.
      defsOf = name: defs: concatMap (d: if d.value ? ${name} then [{
        inherit (d) file;
        value = d.value.${name};
        pos = builtins.unsafeGetAttrPos name d.value;
      }] else [ ]) defs;

      evalOption = loc: decl: defs:
        let
          type = decl.type or lib.types.unspecified;
          defaultDef = if decl ? default then [{ file = head decl.declarations; value = mkOptionDefault decl.default; }] else [ ];
          merged = mergeDefinitions loc type (defs ++ defaultDef);
          # A read-only option takes one definition (at the winning priority), as in nixpkgs.
          value =
            if decl.readOnly or false && length merged.defsFinal > 1 then
              throw "The option `${showOption loc}' is read-only, but it's set multiple times, in ${showFiles (map (d: d.file) merged.defsFinal)}."
            else if decl ? apply then decl.apply merged.mergedValue
            else merged.mergedValue;
        in
        decl // {
          inherit loc value type;
          inherit (merged) isDefined highestPrio;
          definitions = map (d: d.value) merged.defsFinal;
          files = map (d: d.file) merged.defsFinal;
        };

      # One level of the tree: `decls` are declarations at `loc`, `defs` the
      # (pushed-down) definitions of that level.
      evalLevel = loc: decls: defs:
        let
          children = mapAttrs
            (n: decl:
              if isOption decl then evalOption (loc ++ [ n ]) decl (defsOf n defs)
              else evalLevel (loc ++ [ n ]) decl (pushDefs (loc ++ [ n ]) (defsOf n defs)))
            decls;
        in
        {
          config = mapAttrs (n: c: if isOption decls.${n} then c.value else c.config) children;
          options = mapAttrs (n: c: if isOption decls.${n} then c else c.options) children;
          # Definitions of names no module declared, with the declared names
          # beside them (for "did you mean").
          unmatched =
            concatMap (d: map (n: { loc = loc ++ [ n ]; inherit (d) file; siblings = attrNames decls; }) (filter (n: !(decls ? ${n})) (attrNames d.value))) defs
            ++ concatMap (n: if isOption decls.${n} then [ ] else children.${n}.unmatched) (attrNames decls);
        };

      top = evalLevel prefix declTree (pushDefs prefix topDefs);
      config = top.config;
      options = top.options;
      firstUnmatched = head top.unmatched;
      suggestions =
        let
          u = firstUnmatched;
          parent = lib.lists.init u.loc;
          near = lib.strings.closestNames 3 (lib.lists.last u.loc) (filter (n: n != "_module") u.siblings);
          shown = map (n: "`${showOption (parent ++ [ n ])}'") near;
        in
        if hint != null then " ${hint}"
        else if near == [ ] then ""
        else if length near == 1 then " Did you mean ${head shown}?"
        else " Did you mean one of ${builtins.concatStringsSep ", " shown}?";
      hint = undeclaredHint firstUnmatched.loc;
      others = length top.unmatched - 1;
      checkedConfig =
        if top.unmatched == [ ] then config
        else throw ("The option `${showOption firstUnmatched.loc}' does not exist. Definition in `${firstUnmatched.file}'.${suggestions}"
          + lib.strings.optionalString (others > 0) " (${toString others} more undeclared option definition${if others > 1 then "s" else ""}: ${
            builtins.concatStringsSep ", " (map (u: "`${showOption u.loc}'") (builtins.tail top.unmatched))}.)");
    in
    {
      config = checkedConfig;
      inherit options;
      modules = collected;
      extendModules = more:
        evalModules {
          modules = modules ++ (more.modules or [ ]);
          specialArgs = specialArgs // (more.specialArgs or { });
          inherit prefix undeclaredHint;
        };
    };
}
