{ lib }:
let
  inherit (builtins) attrNames listToAttrs hasAttr isAttrs getAttr foldl' head tail length;
in
rec {
  attrByPath = path: default: set:
    if path == [ ] then set
    else if isAttrs set && hasAttr (head path) set then attrByPath (tail path) default (getAttr (head path) set)
    else default;
  hasAttrByPath = path: set:
    if path == [ ] then true
    else isAttrs set && hasAttr (head path) set && hasAttrByPath (tail path) (getAttr (head path) set);
  getAttrFromPath = path: set:
    attrByPath path (throw "cannot find attribute `${builtins.concatStringsSep "." path}'") set;
  setAttrByPath = path: value:
    if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
  nameValuePair = name: value: { inherit name value; };
  mapAttrs = builtins.mapAttrs;
  mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  filterAttrs = pred: set:
    listToAttrs (builtins.concatMap (n: let v = set.${n}; in if pred n v then [ (nameValuePair n v) ] else [ ]) (attrNames set));
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  optionalAttrs = cond: set: if cond then set else { };
  attrValues = builtins.attrValues;
  catAttrs = builtins.catAttrs;
  zipAttrsWith = builtins.zipAttrsWith;
  zipAttrs = zipAttrsWith (_: vs: vs);
  foldAttrs = op: nul: list: zipAttrsWith (_: vs: lib.lists.foldr op nul vs) list;
  # Merges attribute sets recursively; the right side wins for non-attrset values.
  recursiveUpdate = lhs: rhs:
    lhs // builtins.mapAttrs (n: v: if isAttrs v && hasAttr n lhs && isAttrs lhs.${n} && !(isDerivation v) then recursiveUpdate lhs.${n} v else v) rhs;
  isDerivation = v: isAttrs v && (v.type or null) == "derivation";
  mapAttrsRecursiveCond = cond: f: set:
    let
      go = path: s: builtins.mapAttrs (n: v:
        if isAttrs v && cond v then go (path ++ [ n ]) v else f (path ++ [ n ]) v) s;
    in
    go [ ] set;
  collect = pred: v:
    if pred v then [ v ]
    else if isAttrs v then builtins.concatMap (collect pred) (builtins.attrValues v)
    else [ ];
  recurseIntoAttrs = set: set // { recurseForDerivations = true; };
  inherit (builtins) attrNames hasAttr getAttr listToAttrs removeAttrs intersectAttrs;
}
