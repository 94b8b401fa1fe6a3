# A newline in a passwd field would add lines to /etc/passwd (a uid 0 account) and
# end the text root's activation writes: refused.
(import ./system.nix [{
  users.users.alice = { isNormalUser = true; description = "Alice\nevil::0:0::/root:/bin/sh"; };
}]).config.users.generatedFiles.passwd
