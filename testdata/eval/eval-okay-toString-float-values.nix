[ (toString 0.5) (toString 100.0) (toString 1.0e-3) ]
