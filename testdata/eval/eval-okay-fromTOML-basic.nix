builtins.fromTOML ''
  a = 1
  b = "str"
  c = [1, 2, 3]
  [t]
  x = true
  y = 1.5
''
