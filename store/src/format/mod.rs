//! Pure Nix-compatible formats: hashes, nix32, store paths, NAR, derivations.
