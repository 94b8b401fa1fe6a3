# Derivations whose .drv files Nix 2.8 wrote are kept next to this file as golden bytes.
# Regenerate with ./regen.sh (uses a throw-away Nix store under /tmp).
let
  sys = "x86_64-linux";
  simple = derivation { name = "simple"; system = sys; builder = "/bin/sh"; args = [ "-c" "echo hi > $out" ]; };
  multi = derivation {
    name = "multi-1.0"; system = sys; builder = "/bin/sh";
    outputs = [ "out" "dev" "lib" ];
    args = [ "-c" "quote\" backslash\\ newline\n tab\t cr\r" ];
  };
  fixedFlat = derivation {
    name = "fixed-flat"; system = sys; builder = "/bin/sh";
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "1ifl2kfg9r4icmzvbvwg7xf0ibxmhfvd2yxbhz1y2ljrfvbgy8d2";
  };
  fixedRec = derivation {
    name = "fixed-rec"; system = sys; builder = "/bin/sh";
    outputHashMode = "recursive"; outputHashAlgo = "sha256";
    outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  };
  dep = builtins.toFile "dep.txt" "data";
  script = builtins.toFile "builder.sh" "cat ${dep} > $out";
  dependent = derivation {
    name = "dependent"; system = sys; builder = "/bin/sh";
    args = [ script ];
    inputs = "${simple} ${multi.lib} ${fixedFlat} ${fixedRec}";
  };
in { inherit simple multi fixedFlat fixedRec dependent; }
