{ lib }:
let
  inherit (builtins) concatStringsSep stringLength substring genList length filter isString split;
in
rec {
  concatStrings = concatStringsSep "";
  inherit concatStringsSep;
  concatMapStrings = f: list: concatStrings (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatLines = list: concatStrings (map (l: l + "\n") list);
  optionalString = cond: s: if cond then s else "";
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = stringLength s; lf = stringLength suf;
    in lf <= ls && substring (ls - lf) lf s == suf;
  removePrefix = pre: s: if hasPrefix pre s then substring (stringLength pre) (stringLength s) s else s;
  removeSuffix = suf: s: if hasSuffix suf s then substring 0 (stringLength s - stringLength suf) s else s;
  stringToCharacters = s: genList (i: substring i 1 s) (stringLength s);
  splitString = sep: s:
    filter isString (split (escapeRegex sep) s);
  escapeRegex = s: builtins.replaceStrings
    [ "\\" "[" "]" "{" "}" "(" ")" "." "*" "+" "?" "^" "$" "|" ]
    [ "\\\\" "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\." "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ] s;
  replaceStrings = builtins.replaceStrings;
  toUpper = builtins.replaceStrings lowerChars upperChars;
  toLower = builtins.replaceStrings upperChars lowerChars;
  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  # Quotes a string for a POSIX shell.
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
  fixedWidthString = width: filler: s:
    let l = stringLength s;
    in if l >= width then s else concatStrings (genList (_: filler) (width - l)) + s;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);
  indent = prefix: s: concatMapStringsSep "\n" (l: if l == "" then l else prefix + l) (splitString "\n" s);
  toInt = s:
    let m = builtins.match "[[:space:]]*(-?[0-9]+)[[:space:]]*" s;
    in if m == null then throw "toInt: `${s}' is not an integer" else builtins.fromJSON (builtins.head m);
  isStorePath = s: isString s && hasPrefix builtins.storeDir s;
}
