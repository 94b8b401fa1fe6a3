# leading
[ 1 /* mid */ 2 ] # trailing

