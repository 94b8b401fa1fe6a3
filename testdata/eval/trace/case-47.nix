# An error while an imported file is evaluated names the file, without a position.
let f = import ./files/throws.nix; in f
