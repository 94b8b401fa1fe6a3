with { true = 1; }; true
