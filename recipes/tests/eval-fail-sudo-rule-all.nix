# A rule for a "user" named ALL would be sudoers' ALL (every user); upper-case
# names would be aliases: refused.
(import ./system.nix [{
  security.sudo.extraRules = [ { users = [ "ALL" ]; commands = [ "/bin/true" ]; } ];
}]).config.security.sudo.configFile
