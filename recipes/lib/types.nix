# Option types: what a value may be (`check`) and how several definitions combine (`merge`).
{ lib }:
let
  inherit (builtins)
    isAttrs isList isFunction isPath isString isInt isFloat isBool attrNames concatMap concatStringsSep
    elem filter foldl' listToAttrs all length head toJSON;
  inherit (lib.options) mergeEqualOption mergeOneOption mergeDefaultOption showOption showDefs;
  isDerivation = lib.attrsets.isDerivation;
in
rec {
  isType = t: x: isAttrs x && (x._type or null) == t;
  isOptionType = isType "option-type";

  mkOptionType =
    { name
    , description ? name
    , check ? (_: true)
    , merge ? mergeDefaultOption
    , getSubOptions ? (_prefix: { })
    , getSubModules ? null
    , nestedTypes ? { }
    }: {
      _type = "option-type";
      inherit name description check merge getSubOptions getSubModules nestedTypes;
    };

  raw = mkOptionType { name = "raw"; description = "raw value"; merge = mergeOneOption; };
  unspecified = mkOptionType { name = "unspecified"; description = "unspecified value"; };
  anything = mkOptionType {
    name = "anything";
    description = "anything";
    merge = loc: defs:
      let values = map (d: d.value) defs; in
      if all (v: isAttrs v && !isDerivation v) values then (attrsOf anything).merge loc defs
      else if length defs == 1 then (head defs).value
      else if all isFunction values then throw "The option `${showOption loc}' has conflicting function definitions:\n${showDefs defs}"
      else mergeEqualOption loc defs;
  };
  bool = mkOptionType { name = "bool"; description = "boolean"; check = isBool; merge = mergeEqualOption; };
  int = mkOptionType { name = "int"; description = "signed integer"; check = isInt; merge = mergeEqualOption; };
  float = mkOptionType { name = "float"; description = "floating point number"; check = isFloat; merge = mergeEqualOption; };
  number = either int float;
  ints = rec {
    between = lo: hi: addCheck int (x: x >= lo && x <= hi) // {
      name = "intBetween";
      description = "integer between ${toString lo} and ${toString hi} (both inclusive)";
    };
    unsigned = addCheck int (x: x >= 0) // { name = "unsignedInt"; description = "unsigned integer, meaning >=0"; };
    positive = addCheck int (x: x > 0) // { name = "positiveInt"; description = "positive integer, meaning >0"; };
    u8 = between 0 255;
    u16 = between 0 65535;
    u32 = between 0 4294967295;
  };
  port = ints.u16;
  str = mkOptionType { name = "str"; description = "string"; check = isString; merge = mergeEqualOption; };
  nonEmptyStr = addCheck str (s: builtins.match "[ \t\n]*" s == null) // { name = "nonEmptyStr"; description = "non-empty string"; };
  singleLineStr = addCheck str (s: builtins.match "[^\n]*\n?" s != null) // { name = "singleLineStr"; description = "(optionally newline-terminated) single-line string"; };
  strMatching = pattern: addCheck str (s: builtins.match pattern s != null) // {
    name = "strMatching ${toJSON pattern}";
    description = "string matching the pattern ${pattern}";
  };
  separatedString = sep: mkOptionType {
    name = "separatedString";
    description = if sep == "" then "concatenated string" else "strings concatenated with ${toJSON sep}";
    check = isString;
    merge = _loc: defs: concatStringsSep sep (map (d: d.value) defs);
  };
  lines = separatedString "\n";
  commas = separatedString ",";
  envVar = separatedString ":";
  path = mkOptionType {
    name = "path";
    description = "path";
    check = x: isPath x || (isString x && builtins.substring 0 1 x == "/");
    merge = mergeEqualOption;
  };
  package = mkOptionType {
    name = "package";
    description = "package";
    check = x: isDerivation x || lib.strings.isStorePath x;
    merge = mergeOneOption;
  };
  attrs = mkOptionType {
    name = "attrs";
    description = "attribute set";
    check = isAttrs;
    merge = _loc: foldl' (acc: d: acc // d.value) { };
  };
  enum = values: mkOptionType {
    name = "enum";
    description = "one of ${concatStringsSep ", " (map toJSON values)}";
    check = x: elem x values;
    merge = mergeEqualOption;
  };

  addCheck = t: extra: t // { check = x: t.check x && extra x; };
  uniq = t: t // { description = t.description; merge = mergeOneOption; };
  unique = { message }: t: t // {
    merge = loc: defs: if length defs == 1 then (head defs).value else throw "The unique option `${showOption loc}' is defined multiple times. ${message}\n${showDefs defs}";
  };

  nullOr = t: mkOptionType {
    name = "nullOr";
    description = "null or ${t.description}";
    check = x: x == null || t.check x;
    merge = loc: defs:
      let nulls = filter (d: d.value == null) defs; in
      if length nulls == length defs then null
      else if nulls != [ ] then throw "The option `${showOption loc}' is defined both null and not null:\n${showDefs defs}"
      else t.merge loc defs;
    getSubOptions = t.getSubOptions;
    getSubModules = t.getSubModules;
    nestedTypes.elemType = t;
  };
  either = a: b: mkOptionType {
    name = "either";
    description = "${a.description} or ${b.description}";
    check = x: a.check x || b.check x;
    merge = loc: defs:
      if all (d: a.check d.value) defs then a.merge loc defs
      else if all (d: b.check d.value) defs then b.merge loc defs
      else throw "The option `${showOption loc}' has definitions of different types (${a.description} and ${b.description}):\n${showDefs defs}";
    nestedTypes = { left = a; right = b; };
  };
  oneOf = ts:
    if ts == [ ] then throw "types.oneOf needs at least one type"
    else foldl' either (head ts) (builtins.tail ts);
  coercedTo = from: f: to: mkOptionType {
    name = "coercedTo";
    description = "${to.description} or ${from.description} convertible to it";
    check = x: (from.check x && to.check (f x)) || to.check x;
    merge = loc: defs: to.merge loc (map (d: if to.check d.value then d else d // { value = f d.value; }) defs);
    getSubOptions = to.getSubOptions;
    getSubModules = to.getSubModules;
    nestedTypes = { coercedType = from; finalType = to; };
  };

  listOf = t: mkOptionType {
    name = "listOf";
    description = "list of ${t.description}";
    check = isList;
    merge = loc: defs:
      concatMap
        (d: concatMap
          (e:
            let r = lib.modules.mergeDefinitions (loc ++ [ "[entry]" ]) t [{ inherit (d) file; value = e; }];
            in if r.isDefined then [ r.mergedValue ] else [ ])
          d.value)
        defs;
    getSubOptions = prefix: t.getSubOptions (prefix ++ [ "*" ]);
    getSubModules = t.getSubModules;
    nestedTypes.elemType = t;
  };
  nonEmptyListOf = t: addCheck (listOf t) (l: l != [ ]) // { description = "non-empty list of ${t.description}"; };

  # Shared by attrsOf and lazyAttrsOf: definitions of each attribute, conditions pushed down.
  attrDefs = defs:
    let
      pushed = concatMap (d: map (value: { inherit (d) file; inherit value; }) (lib.modules.pushDownProperties d.value)) defs;
      names = attrNames (foldl' (acc: d: acc // d.value) { } pushed);
    in
    map (n: { name = n; defs = concatMap (d: if d.value ? ${n} then [{ inherit (d) file; value = d.value.${n}; }] else [ ]) pushed; }) names;

  attrsOf = t: mkOptionType {
    name = "attrsOf";
    description = "attribute set of ${t.description}";
    check = isAttrs;
    merge = loc: defs:
      let
        results = map (a: { inherit (a) name; r = lib.modules.mergeDefinitions (loc ++ [ a.name ]) t a.defs; }) (attrDefs defs);
      in
      listToAttrs (map (x: { inherit (x) name; value = x.r.mergedValue; }) (filter (x: x.r.isDefined) results));
    getSubOptions = prefix: t.getSubOptions (prefix ++ [ "<name>" ]);
    getSubModules = t.getSubModules;
    nestedTypes.elemType = t;
  };
  # Like attrsOf, but the set of names does not depend on evaluating conditions;
  # an attribute whose definitions are all conditioned away fails when used.
  lazyAttrsOf = t: attrsOf t // {
    name = "lazyAttrsOf";
    description = "lazy attribute set of ${t.description}";
    merge = loc: defs:
      listToAttrs (map (a: { inherit (a) name; value = (lib.modules.mergeDefinitions (loc ++ [ a.name ]) t a.defs).mergedValue; }) (attrDefs defs));
  };

  functionTo = t: mkOptionType {
    name = "functionTo";
    description = "function that evaluates to a(n) ${t.description}";
    check = isFunction;
    merge = loc: defs: x: t.merge (loc ++ [ "<function body>" ]) (map (d: d // { value = d.value x; }) defs);
    nestedTypes.elemType = t;
  };

  # `undeclaredHint` as evalModules takes it (null: none).
  submoduleWith = { modules, specialArgs ? { }, shorthandOnlyDefinesConfig ? false, undeclaredHint ? null }:
    let
      asModule = d:
        if isAttrs d.value && shorthandOnlyDefinesConfig then { _file = d.file; config = d.value; }
        else { _file = d.file; imports = [ d.value ]; };
      nameOf = loc: if loc == [ ] then "<name>" else lib.lists.last loc;
    in
    mkOptionType {
      name = "submodule";
      description = "submodule";
      check = x: isAttrs x || isFunction x || isPath x;
      merge = loc: defs:
        (lib.modules.evalModules ({
          modules = modules ++ map asModule defs;
          specialArgs = specialArgs // { name = nameOf loc; };
          prefix = loc;
        } // lib.attrsets.optionalAttrs (undeclaredHint != null) { inherit undeclaredHint; })).config;
      getSubOptions = prefix:
        (lib.modules.evalModules { inherit modules; specialArgs = specialArgs // { name = "<name>"; }; inherit prefix; }).options;
      getSubModules = modules;
    };
  submodule = modules: submoduleWith { modules = lib.lists.toList modules; shorthandOnlyDefinesConfig = true; };
}
