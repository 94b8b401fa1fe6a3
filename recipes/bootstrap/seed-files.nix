# Every pinned seed file (the fixed-output fetches of pins.nix, with the local
# override if there is one), for `cargo xtask seeds push`.
let
  bootstrap = import ./. { b8gTree = null; };
  fetch = _: pin: if pin ? package then bootstrap.fetchDeb pin else bootstrap.fetchDebSource pin;
in
builtins.attrValues (builtins.mapAttrs fetch bootstrap.pins)
