# Nix reads a file's lines up to each newline: a last line without one is not shown.
1 + "a"