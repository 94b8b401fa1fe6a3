# A tab in a message is widened as Nix's logger does, counted from the start of the text.
throw "tab:\there"
