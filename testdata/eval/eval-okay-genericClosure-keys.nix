# Keys equal under `<`: 1 and 1.0 are one key, lists compare element by
# element, and a lone key of a kind `<` cannot order is never compared.
{
  numbers = map (x: x.key) (builtins.genericClosure {
    startSet = [ { key = 1; } { key = 1.0; } { key = 2.5; } { key = 2; } { key = 0.5; } ];
    operator = _: [ ];
  });
  lists = map (x: x.key) (builtins.genericClosure {
    startSet = [ { key = [ 1 ]; } { key = [ 1 ]; } { key = [ 0 2 ]; } { key = [ ]; } ];
    operator = _: [ ];
  });
  lone = builtins.genericClosure { startSet = [ { key = { }; } ]; operator = _: [ ]; };
  many = builtins.length (builtins.genericClosure {
    startSet = [ { key = 0; } ];
    operator = e: if e.key < 20000 then [ { key = e.key + 1; } { key = e.key / 2; } ] else [ ];
  });
}
