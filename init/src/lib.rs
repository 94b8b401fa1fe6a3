//! b8g-init: a PID 1 that runs systemd-style units and SysV init scripts.
//!
//! The library holds everything; the `b8g-init` and `b8gctl` binaries are thin.
//! [`unit`] parses and loads unit files, [`sysv`] turns inittab and LSB scripts into
//! units, [`engine`] orders jobs over the dependency graph, [`manager`] runs
//! processes and owns the event loop, [`control`] is the socket protocol `b8gctl`
//! speaks, [`unitfiles`] does systemctl's enable/disable/mask on disk. init does not parse Nix: it reads plain unit files from a generation.

pub mod boot;
pub mod bootcheck;
pub mod bus;
pub mod cgroup;
pub mod condition;
pub mod config;
pub mod control;
pub mod engine;
pub mod exec;
pub mod generators;
pub mod log;
pub mod manager;
pub mod namespace;
pub mod notify;
pub mod pathwatch;
pub mod safefs;
pub mod switch;
pub mod sys;
pub mod syslog;
pub mod systemctl;
pub mod sysv;
pub mod udev;
pub mod unit;
pub mod unitfiles;
pub mod verify;
