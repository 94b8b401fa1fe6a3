# A float literal that overflows to infinity is invalid, as in Nix 2.8.
1.8e308
