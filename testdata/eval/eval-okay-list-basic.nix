[ 1 "two" 3.0 true null [ 4 ] { five = 5; } ]
