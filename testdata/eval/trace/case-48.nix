# `!` wants a Boolean without saying where (Nix's evalBool has no position).
let f = x: !x; in f 1
