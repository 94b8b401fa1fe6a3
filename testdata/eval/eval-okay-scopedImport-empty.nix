# An empty scope still makes a frame of its own: the file's globals resolve past it.
builtins.scopedImport { } ./lib/uses-globals.nix
