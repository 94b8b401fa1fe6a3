map (b: if b then "true" else "false") [ true false ]
