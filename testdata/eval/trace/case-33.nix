# A set on the way is forced at the selection, not at its attribute.
let s = { a = s.a.b; }; in s.a
