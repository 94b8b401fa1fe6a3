# A small library in the style of nixpkgs' lib: fixpoints and overlays.
let
  fix = f: let x = f x; in x;
  extends = overlay: f: self: let super = f self; in super // overlay self super;
  composeExtensions = f: g: self: super:
    let fApplied = f self super; super' = super // fApplied; in fApplied // g self super';
  base = self: { a = 1; b = self.a + 1; names = [ "base" ]; };
  o1 = self: super: { a = super.a * 10; names = super.names ++ [ "o1" ]; };
  o2 = self: super: { c = self.b * 2; names = super.names ++ [ "o2" ]; };
in {
  result = fix (extends (composeExtensions o1 o2) base);
}
