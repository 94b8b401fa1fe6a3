let optional = c: x: if c then [ x ] else [ ]; optionalString = c: s: if c then s else ""; in [ (optional true 1) (optional false 1) (optionalString true "y") (optionalString false "n") ]
