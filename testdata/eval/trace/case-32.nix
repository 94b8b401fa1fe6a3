# Through a selection: at the attribute found last.
let s = { a = s.a; }; in s.a
