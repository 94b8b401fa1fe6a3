let esc = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'"; in esc "it's"
