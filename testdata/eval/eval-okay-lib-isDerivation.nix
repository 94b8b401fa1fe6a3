let isDerivation = x: x.type or null == "derivation"; in [ (isDerivation { type = "derivation"; }) (isDerivation { }) ]
