import <corpus/lib/simple.nix>
