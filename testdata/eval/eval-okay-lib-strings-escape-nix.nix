builtins.toJSON (builtins.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] "a\\b\"c")
