{ "let" = 1; "in" = 2; "with" = 3; }
