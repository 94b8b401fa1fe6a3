# Small builders that need no toolchain, on top of `builtin:b8g-tree`.
{ lib }:
rec {
  b8gTree = import ./tree.nix;
  writeTextFile = { name, text, executable ? false }:
    b8gTree name { "" = { type = "file"; inherit text executable; }; };
  writeText = name: text: writeTextFile { inherit name text; };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  # A shell script run by `shell` (a path to a POSIX shell).
  writeShellScript = shell: name: text: writeScript name "#!${shell}\nset -e\n${text}";
  # A profile: the union of several packages' trees, as symlinks (like a buildEnv).
  symlinkJoin = { name, paths }: b8gTree name { "" = { type = "union"; sources = map toString paths; }; };
}
