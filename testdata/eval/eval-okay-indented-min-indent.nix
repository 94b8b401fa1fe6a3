''
      deep
    shallow
        deeper
''
