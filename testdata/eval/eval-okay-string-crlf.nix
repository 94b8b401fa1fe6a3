# Carriage returns in "..." strings are line feeds, as Nix 2.8 reads them (a file
# saved with CR LF line ends gives the same strings); an escaped one is kept.
[ "a
b" "cd" "e\rf" "g\
h" "x
${"y"}z" (builtins.hashString "sha256" "line1
line2")
  (builtins.attrNames { "i
j" = 1; ${"k"} = 2; }) ]
