//! The command tree shared by the `b8g` and `b8g-build` binaries.

pub mod commands;
