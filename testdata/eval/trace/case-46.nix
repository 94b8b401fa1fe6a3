# Columns count bytes: "é" and "ü" take two each.
let s = "héllo ü"; x = 1 + "a"; in x
