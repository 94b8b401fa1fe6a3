//! b8g-init: a PID 1 that runs systemd-style units and SysV init scripts.
