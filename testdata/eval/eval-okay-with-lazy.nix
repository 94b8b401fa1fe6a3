with (throw "unused"); 5
