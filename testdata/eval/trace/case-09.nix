let f = { name, port ? 80 }: name; in f { name = "a"; prot = 1; }
