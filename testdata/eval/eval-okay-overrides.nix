# `__overrides` in a recursive set replaces attributes where the others
# see them, and adds new ones; in a non-recursive set it is an attribute.
[
  (rec { __overrides = { a = 5; z = 9; }; a = 1; b = a + 1; })
  (rec { __overrides = { }; a = 1; })
  ({ __overrides = { a = 5; }; a = 1; })
]
