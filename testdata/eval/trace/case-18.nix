let n = "q"; in { a = 1; a.${n} = 2; }
