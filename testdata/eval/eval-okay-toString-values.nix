[ (toString 1) (toString true) (toString false) (toString null) (toString "s") (toString [1 2 "x"]) (toString 1.5) ]
