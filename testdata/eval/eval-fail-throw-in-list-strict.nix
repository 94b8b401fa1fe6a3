[ 1 (throw "deep") ]
