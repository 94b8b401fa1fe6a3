map (s: (builtins.parseDrvName s).version) [ "firefox-3.5.4" "bash-4.2-p45" "xyz" ]
