[ <nixpkgs/> ]
