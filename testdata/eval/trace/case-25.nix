let { inherit x; body = 1; }
