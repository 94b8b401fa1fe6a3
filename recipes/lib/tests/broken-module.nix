# Imported and then disabled by eval-okay-submodules.nix; evaluating it would fail.
{ users.zed.uid = "not an int"; }
