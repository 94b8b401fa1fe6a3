# A file-reading builtin whose argument is not a path: Nix's realisePath frame.
builtins.readFile "relative/name"
