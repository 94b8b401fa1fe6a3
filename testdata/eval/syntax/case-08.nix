x: x if
