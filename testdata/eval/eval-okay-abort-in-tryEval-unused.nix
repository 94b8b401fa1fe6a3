let f = x: abort "no"; in 1
