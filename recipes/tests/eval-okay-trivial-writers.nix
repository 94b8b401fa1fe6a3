# nixpkgs' trivial writers take (name, text) and return derivations.
let
  pkgs = import ./fake-pkgs.nix;
  show = d: { inherit (d) type name; tree = builtins.fromJSON (builtins.unsafeDiscardStringContext d.tree); };
in
{
  shellScript = show (pkgs.writeShellScript "foo" "echo hi");
  shellScriptBin = show (pkgs.writeShellScriptBin "foo" "echo hi");
  script = show (pkgs.writeScript "foo" "#!/bin/sh\necho hi\n");
  scriptBin = show (pkgs.writeScriptBin "foo" "#!/bin/sh\necho hi\n");
  text = show (pkgs.writeText "foo.txt" "hi\n");
  textDir = show (pkgs.writeTextDir "share/doc/foo.txt" "hi\n");
}
