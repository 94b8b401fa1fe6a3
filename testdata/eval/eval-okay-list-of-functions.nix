map (f: f 3) [ (x: x + 1) (x: x * 2) toString ]
