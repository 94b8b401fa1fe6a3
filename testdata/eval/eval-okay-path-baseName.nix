[ (baseNameOf ./foo/bar.nix) (baseNameOf ./.) ]
