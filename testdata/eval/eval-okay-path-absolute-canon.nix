/foo/../bar/./baz
