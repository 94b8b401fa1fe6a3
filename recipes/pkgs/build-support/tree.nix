# `b8gTree name tree`: a store path laid out from a JSON description, built
# in-process by b8g's `builtin:b8g-tree` builder (no tools, no sandbox needed).
#
# `tree` maps relative paths to entries:
#   { type = "file"; text = "..."; executable = false; }
#   { type = "symlink"; target = "/b8g/store/..."; }
#   { type = "directory"; }
#   { type = "union"; sources = [ storePaths ]; }  # symlinks to the leaves of all sources merged
#     (optional `priorities = [ ints ]`, one per source: of two sources holding
#     the same file the lower number wins, as nixpkgs' meta.priority; equal ones conflict)
# The single key "" makes the output itself that entry (a plain file, say).
# References to store paths travel as string context, so they become inputs.
name: tree:
derivation {
  inherit name;
  system = "builtin";
  builder = "builtin:b8g-tree";
  tree = builtins.toJSON tree;
  preferLocalBuild = true;
}
