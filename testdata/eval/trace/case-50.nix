# A condition that is no Boolean is reported at the `if`.
let c = "yes"; in if c then 1 else 2
