# Option declarations and the generic ways of merging definitions.
{ lib }:
let
  inherit (builtins) isAttrs isList isFunction isBool isString isInt length head tail all any concatMap concatStringsSep foldl';
in
rec {
  # An option declaration. Recognised attributes: type, default, defaultText,
  # example, description, apply, internal, visible, readOnly.
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: mkOption {
    type = lib.types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };
  isOption = x: isAttrs x && (x._type or null) == "option";
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  # `a.b."c d"` for the location ["a" "b" "c d"].
  showOption = loc: concatStringsSep "." (map
    (p: if builtins.match "[a-zA-Z_<>*][a-zA-Z0-9_'<>*-]*" p != null then p else builtins.toJSON p)
    loc);
  showFiles = files: concatStringsSep ", " (map (f: "`${toString f}'") files);
  # The line is shown when the definition's position is in the module's own file.
  showDefs = defs: concatStringsSep "\n" (map (d: "- In `${showDefFile d}': ${showValue d.value}") defs);
  showDefFile = d:
    let p = d.pos or null; in
    if p != null && p.file == toString d.file then "${p.file}:${toString p.line}:${toString p.column}"
    else toString d.file;

  # A short, never-failing rendering of a value for messages and documentation.
  showValue = v:
    let
      go = depth: v:
        if isAttrs v then
          if (v._type or null) == "literalExpression" then v.text
          else if (v.type or null) == "derivation" then "<derivation ${v.name or "?"}>"
          else if depth > 2 then "{ ... }"
          else if v == { } then "{ }"
          else "{ " + concatStringsSep " " (map (n: "${showOption [ n ]} = ${go (depth + 1) v.${n}};") (builtins.attrNames v)) + " }"
        else if isList v then
          if depth > 2 then "[ ... ]" else "[ " + concatStringsSep " " (map (go (depth + 1)) v) + " ]"
        else if isString v then builtins.toJSON v
        else if isFunction v then "<function>"
        else if v == null then "null"
        else if isBool v then lib.trivial.boolToString v
        else toString v;
      r = builtins.tryEval (go 0 v);
    in
    if r.success then r.value else "<error>";

  # Every definition must be equal; the value is that of the first.
  mergeEqualOption = loc: defs:
    let first = head defs;
    in if all (d: d.value == first.value) (tail defs) then first.value
    else throw "The option `${showOption loc}' has conflicting definition values:\n${showDefs defs}";
  # Exactly one definition is allowed.
  mergeOneOption = loc: defs:
    if length defs == 1 then (head defs).value
    else throw "The unique option `${showOption loc}' is defined multiple times. Definition values:\n${showDefs defs}";
  # Merging for untyped options: lists concatenate, sets combine, booleans or, strings join.
  mergeDefaultOption = loc: defs:
    let values = map (d: d.value) defs;
    in if length defs == 1 then head values
    else if all isFunction values then x: mergeDefaultOption loc (map (d: d // { value = d.value x; }) defs)
    else if all isList values then builtins.concatLists values
    else if all isAttrs values then foldl' (a: b: a // b) { } values
    else if all isBool values then any (x: x) values
    else if all isString values then concatStringsSep "" values
    else if all isInt values && all (x: x == head values) values then head values
    else throw "Cannot merge definitions of `${showOption loc}'. Definition values:\n${showDefs defs}";
}
