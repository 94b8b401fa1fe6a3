baseNameOf (./foo + "bar")
