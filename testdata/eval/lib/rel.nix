let s = import ./simple.nix; in { value = s.y + "!"; }
