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
  # Prefixes every non-empty line. Built from replaceStrings and substring, which
  # keep string context (split drops it), so store paths in `s` stay dependencies.
  indent = prefix: s:
    let
      nl = builtins.replaceStrings [ "\n" ] [ "\n${prefix}" ] s;
      blank = builtins.replaceStrings [ "\n${prefix}\n" ] [ "\n\n" ];
      body = blank (blank nl);
      first = if s == "" || hasPrefix "\n" s then body else prefix + body;
    in
    if hasSuffix "\n${prefix}" first then substring 0 (stringLength first - stringLength prefix) first else first;
  toInt = s:
    let m = builtins.match "[[:space:]]*(-?[0-9]+)[[:space:]]*" s;
    in if m == null then throw "toInt: `${s}' is not an integer" else builtins.fromJSON (builtins.head m);
  isStorePath = s: isString s && hasPrefix builtins.storeDir s;

  # Levenshtein distance: insertions, deletions and substitutions of one character.
  # Computed row by row so it stays linear in memory; meant for short names.
  levenshtein = a: b:
    let
      as = stringToCharacters a;
      bs = stringToCharacters b;
      lb = length bs;
      first = genList (j: j) (lb + 1);
      step = prev: ca:
        let
          row0 = builtins.head prev + 1;
          go = j: left:
            if j > lb then [ ]
            else
              let
                sub = builtins.elemAt prev (j - 1) + (if builtins.elemAt bs (j - 1) == ca then 0 else 1);
                del = builtins.elemAt prev j + 1;
                ins = left + 1;
                v = lib.trivial.min sub (lib.trivial.min del ins);
              in
              [ v ] ++ go (j + 1) v;
        in
        [ row0 ] ++ go 1 row0;
    in
    builtins.elemAt (builtins.foldl' step first as) lb;

  # The candidates closest to `name` by edit distance (at most a third of its
  # length, at least 1), best first, ties in the candidates' order; at most `n`.
  closestNames = n: name: candidates:
    let
      limit = lib.trivial.max 1 (stringLength name / 3);
      scored = map (c: { inherit c; d = levenshtein (lib.toLower name) (lib.toLower c); }) candidates;
      # A candidate that shares nothing with the name is no suggestion.
      near = filter (x: x.d <= limit && x.d < stringLength name) scored;
    in
    map (x: x.c) (lib.lists.take n (lib.lists.sortOn (x: x.d) near));
}
