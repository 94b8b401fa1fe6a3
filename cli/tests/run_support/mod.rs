//! Small helpers of the tests that run `b8g`, Nix and friends as commands.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The command's stdout, trimmed; fails the test with its output if it failed.
pub fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// `dir/proj` with `default.nix` = `expr` and a static busybox at
/// `bb/bin/busybox` (Debian's busybox-static), which expressions import with
/// `builtins.path { path = ./bb; name = "busybox"; }`.
pub fn busybox_project(dir: &Path, expr: &str) -> PathBuf {
    let proj = dir.join("proj");
    fs::create_dir_all(proj.join("bb/bin")).expect("mkdir");
    fs::copy("/bin/busybox", proj.join("bb/bin/busybox")).expect("needs busybox-static");
    fs::write(proj.join("default.nix"), expr).expect("write");
    proj
}
