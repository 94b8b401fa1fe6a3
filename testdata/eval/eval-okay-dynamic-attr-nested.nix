let x = "k"; in { ${x}.a = 1; }
