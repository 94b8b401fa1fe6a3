{ inherit ({})  x; }
