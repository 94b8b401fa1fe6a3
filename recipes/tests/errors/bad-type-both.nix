# bad-type.nix and also-getty.nix together, as one system file (cli/tests/system_errors.rs).
{ imports = [ ./bad-type.nix ./also-getty.nix ]; }
