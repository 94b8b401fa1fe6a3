# Carriage returns are not shown, nor are trailing blanks.
let
  x = 1 + "a";    
in x
