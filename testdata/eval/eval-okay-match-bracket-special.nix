[ (builtins.match "[]a]+" "]a]") (builtins.match "[^a-c]+" "xyz") (builtins.match "[a-]+" "a-a") ]
