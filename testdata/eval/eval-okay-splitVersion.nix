map builtins.splitVersion [ "1.2.3" "1.2a3" "2.3pre1" "" "1-2.3_4" "a.b" ]
