# Benchmark (c): a lib-style fixpoint with 50 overlays over a 2 000-attribute
# package set (`fix` and `extends` as in nixpkgs' lib/fixed-points.nix).
let
  fix = f: let x = f x; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
  foldr = op: nul: list:
    let len = builtins.length list;
        go = i: if i == len then nul else op (builtins.elemAt list i) (go (i + 1));
    in go 0;
  size = 2000;
  name = i: "pkg${toString i}";
  base = final: builtins.listToAttrs (builtins.genList (i: {
    name = name i;
    value = {
      pname = name i;
      version = 1;
      deps = if i == 0 then [ ] else [ final.${name (i / 2)} ];
    };
  }) size);
  # Odd overlays bump every version; even ones rewrite a slice, reading both
  # the previous layer and the final fixpoint.
  overlay = k: final: prev:
    if k / 2 * 2 == k then
      builtins.listToAttrs (builtins.genList (j:
        let i = j * 50 + k; in {
          name = name i;
          value = prev.${name i} // {
            extra = final.${name ((i + 1) - (i + 1) / size * size)}.pname;
          };
        }) 40)
    else builtins.mapAttrs (n: p: p // { version = p.version + 1; }) prev;
  overlays = builtins.genList overlay 50;
  final = fix (extends (foldr composeExtensions (final: prev: { }) overlays) base);
  depth = p: if p.deps == [ ] then 0 else 1 + depth (builtins.head p.deps);
in {
  versions = builtins.foldl' (acc: p: acc + p.version) 0 (builtins.attrValues final);
  extras = builtins.length (builtins.filter (p: p ? extra) (builtins.attrValues final));
  depths = builtins.foldl' (acc: p: acc + depth p) 0 (builtins.attrValues final);
  last = final.pkg1999.pname;
}
