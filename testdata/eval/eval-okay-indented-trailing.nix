''
  foo
  bar''
