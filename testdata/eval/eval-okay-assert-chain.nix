assert true; assert !false; 1
