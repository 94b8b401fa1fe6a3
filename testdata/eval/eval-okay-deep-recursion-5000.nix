let f = n: if n == 0 then "done" else f (n - 1); in f 5000
