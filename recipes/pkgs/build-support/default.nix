# Small builders that need no toolchain, on top of `builtin:b8g-tree`.
# The trivial writers take nixpkgs' arguments: `writeText name text`,
# `writeShellScript name text`, `writeShellScriptBin name text`, ...
{ lib, runtimeShell }:
rec {
  b8gTree = import ./tree.nix;
  # `destination` (nixpkgs' meaning): the file's path inside the output, such as
  # "/bin/foo"; empty makes the output itself the file.
  writeTextFile = { name, text, executable ? false, destination ? "" }:
    b8gTree name { ${lib.removePrefix "/" destination} = { type = "file"; inherit text executable; }; };
  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile { inherit text; name = builtins.baseNameOf path; destination = "/${path}"; };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile { inherit name text; executable = true; destination = "/bin/${name}"; };
  # A script run by the package set's shell (busybox sh), as in nixpkgs: no `set -e` added.
  writeShellScript = name: text: writeScript name "#!${runtimeShell}\n${text}\n";
  writeShellScriptBin = name: text: writeScriptBin name "#!${runtimeShell}\n${text}\n";
  # A profile: the union of several packages' trees, as symlinks (like a buildEnv).
  # Where two paths hold the same file, the lower `meta.priority` (default 5)
  # wins, as in nixpkgs' buildEnv (`lowPrio` is 10).
  symlinkJoin = { name, paths }:
    let priorities = map (p: p.meta.priority or 5) paths; in
    b8gTree name {
      "" = { type = "union"; sources = map toString paths; }
        // lib.optionalAttrs (builtins.any (p: p != 5) priorities) { inherit priorities; };
    };
  lowPrio = drv: drv // { meta = (drv.meta or { }) // { priority = 10; }; };
}
