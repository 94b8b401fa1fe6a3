[ (baseNameOf (./src + "/a.txt")) ("" + ./src/a.txt) ]
