# A mode that smuggles a second line into b8g-etc-modes (read by root's activation) is refused.
((import ./system.nix) [{
  environment.etc.foo = { text = "x"; mode = "0600 root root ../../../../bin/sh\n0644"; };
}]).config.environment.etc."b8g-etc-modes".text
