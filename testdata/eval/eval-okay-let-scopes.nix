# Lets whose bindings refer to none of their own names are compiled in the
# scope outside; those that do, or might (a shadowed or attribute name spelled
# the same), stay recursive. Each must read the right binding.
let
  a = 1;
  s = { b = 10; a = 100; };
in [
  (let b = a + 1; in b)                          # not recursive: outer a
  (let a = 2; b = a + 1; in b)                   # recursive: its own a
  (let inherit a; c = 5; in a + c)               # inherit takes the outer a
  (let inherit (s) b; in b)
  (let f = a: a + 1; a = 7; in f 1)              # a shadowed in the binding: recursive, same value
  (let x = s.a; in x)                            # s.a is an attribute name here
  (let a = s.a; in a)                            # spells its own name (as the attribute): recursive
  (let p.q = a; in p.q)                          # nested path, outer a
  (let p.q = r; r = 3; in p.q)                   # nested path naming a sibling
  (let w = with s; b; in w)
  (let w = with s; a; in w)                      # the outer lexical a wins over with
  (let l = [ a ]; m = 0; in builtins.head l + m)
  (let fix = f: let x = f x; in x; in (fix (self: { v = 1; w = self.v + 1; })).w)
  (let k = "${toString a}-x"; in k)
]
