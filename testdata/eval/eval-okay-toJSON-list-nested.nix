builtins.toJSON [ [ [ ] ] { a = [ { } ]; } ]
