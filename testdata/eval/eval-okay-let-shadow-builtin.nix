let map = 1; true = false; in [ map true ]
