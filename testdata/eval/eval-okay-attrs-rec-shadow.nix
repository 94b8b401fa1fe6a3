let a = 10; in rec { a = 1; b = a; }
