[ "héllo" (builtins.stringLength "héllo") "日本" ]
