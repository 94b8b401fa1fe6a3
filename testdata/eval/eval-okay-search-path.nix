builtins.readFile <corpus/data/hello.txt>
