let x = 5; in rec { x = 1; inherit (builtins) length; y = length [ x ]; }
