builtins.getContext "${./src/a.txt}"
