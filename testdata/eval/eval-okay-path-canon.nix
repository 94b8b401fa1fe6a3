let p = ./a/../b/./c; in baseNameOf (dirOf p) + "/" + baseNameOf p
