rec { a = b; b = c; c = 3; }
