assert true; f assert true; 1
