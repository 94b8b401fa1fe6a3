# A failed system call has no position (Nix's SysError), and its words are strerror's.
builtins.readDir ./case-40.nix
