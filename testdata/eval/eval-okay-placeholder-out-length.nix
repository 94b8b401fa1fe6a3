builtins.stringLength (placeholder "out")
