builtins.toXML "plain"
