let l = []; s = {}; in [ l l s s ]
