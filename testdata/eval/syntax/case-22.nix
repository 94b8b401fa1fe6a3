f with {}; 1
