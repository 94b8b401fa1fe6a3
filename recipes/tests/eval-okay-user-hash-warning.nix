# A hashedPassword that is no crypt(3) hash (a plain password, say) gets NixOS's
# warning; real hashes and locked accounts do not.
let
  w = users: (import ./system.nix [{ inherit users; }]).config.warnings;
in
{
  plain = w { users.alice = { isNormalUser = true; hashedPassword = "hunter2"; }; };
  sha512 = w { users.alice = { isNormalUser = true; hashedPassword = "$6$rounds=5000$salt$K0ERP2iNflDBjEfyWlX0uZbBpWa6nKGYydM9S3Fu/yEa4G5Pd1XDuuDE5QPRD8A6XfsHxQ6R5hgm2xkAPN4CU."; }; };
  yescrypt = w { users.alice = { isNormalUser = true; hashedPassword = "$y$j9T$DY5dRdEVaIkA3UaTIYz5O.$yiYd3OgV8PGnR3b4OjAJNAf3HsWNWFuwFwJ9nFMSNxC"; }; };
  locked = w { users.alice = { isNormalUser = true; hashedPassword = "!"; }; };
}
