# A second file defining services.getty.enable (recipes/tests/eval-fail-user-type.nix).
{ services.getty.enable = true; }
