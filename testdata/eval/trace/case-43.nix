# A message of several lines: the following ones are indented under the first.
throw "first\n\nthird\n"
