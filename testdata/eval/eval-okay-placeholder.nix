[ (placeholder "out") (placeholder "dev") (builtins.placeholder "bin") ]
