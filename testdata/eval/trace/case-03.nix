let
  mk = { name, port ? 80 }: "${name}:${toString port}";
in
  mk { name = "web"; port = { }; }
