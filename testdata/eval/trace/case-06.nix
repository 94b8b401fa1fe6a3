let
  attrs = { x = 1; };
  get = name: attrs.${name};
in
  get "y"
