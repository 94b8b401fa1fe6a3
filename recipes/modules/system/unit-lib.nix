# Rendering unit files in systemd's syntax for b8g-init.
{ lib }:
let
  inherit (builtins) isBool isList isString concatStringsSep attrNames filter;
in
rec {
  # One `Key=value` line per list element; booleans as yes/no.
  toUnitValue = v: if isBool v then (if v then "yes" else "no") else toString v;
  renderSection = name: attrs:
    let
      keys = filter (k: attrs.${k} != null && attrs.${k} != [ ]) (attrNames attrs);
      line = k: v: "${k}=${toUnitValue v}\n";
      lines = k: let v = attrs.${k}; in if isList v then lib.concatMapStrings (line k) v else line k v;
    in
    if keys == [ ] then "" else "[${name}]\n" + lib.concatMapStrings lines keys + "\n";
  # `Environment="K=V"`, escaped for systemd's quoting rules.
  envLine = k: v: "\"${lib.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] "${k}=${toString v}"}\"";
  # systemd-escape --path: "/" is "-", "/var/lib" is "var-lib".
  escapePath = p:
    let
      trimmed = lib.removeSuffix "/" (lib.removePrefix "/" p);
      esc = c:
        if c == "/" then "-"
        else if builtins.match "[a-zA-Z0-9:_.]" c != null then c
        else "\\x" + (lib.fixedWidthString 2 "0" (lib.toLower (toHex c)));
      toHex = c: let n = lib.lists.findFirst (i: builtins.elemAt printable i == c) null (lib.range 0 94); in
        if n == null then "3f" else hexOf (n + 32);
      printable = lib.stringToCharacters " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
      hexOf = n: let d = "0123456789abcdef"; in builtins.substring (n / 16) 1 d + builtins.substring (lib.mod n 16) 1 d;
    in
    if trimmed == "" then "-" else lib.concatMapStrings esc (lib.stringToCharacters trimmed);
}
