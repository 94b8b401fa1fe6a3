# A target with a newline would be two lines of b8g-etc-modes (read by root's activation): refused.
((import ./system.nix) [{
  environment.etc.foo = { text = "x"; mode = "0600"; target = "foo\n0644 root root shadow"; };
}]).config.environment.etc."b8g-etc-modes".text
