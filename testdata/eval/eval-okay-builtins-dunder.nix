[ (__length [ 1 2 ]) (__add 1 2) (__isAttrs { }) (__typeOf __currentSystem) ]
