//! b8g-kernel-adapters: turn a system closure into something a machine boots.
