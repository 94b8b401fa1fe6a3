# So does `//` want sets (evalAttrs).
let g = s: s // { }; in g 1
