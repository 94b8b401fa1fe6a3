builtins.fromTOML ''
  [a.b]
  c = 1
  [[arr]]
  n = 1
  [[arr]]
  n = 2
''
