//! A chroot store of ours in a temporary directory, driven through the `b8g`
//! binary: shared by the store and cache command tests.
#![allow(dead_code)] // each test crate uses a part of it

use std::path::PathBuf;
use std::process::{Command, Output};

pub const B8G: &str = env!("CARGO_BIN_EXE_b8g");

pub struct Store {
    pub dir: tempfile::TempDir,
    pub store_dir: &'static str,
}

impl Store {
    pub fn new(store_dir: &'static str) -> Store {
        Store {
            dir: tempfile::tempdir().expect("tempdir"),
            store_dir,
        }
    }

    /// The chroot the store lives in (`--root`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A scratch file beside the chroot.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Where a logical path (`/b8g/store/...`) is on this machine.
    pub fn real(&self, logical: &str) -> PathBuf {
        self.root().join(logical.trim_start_matches('/'))
    }

    pub fn real_store(&self) -> PathBuf {
        self.real(self.store_dir)
    }

    pub fn gcroots(&self) -> PathBuf {
        self.root().join("var/b8g/gcroots")
    }

    /// `b8g` with this store's options; the caller's B8G_* settings are dropped.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(B8G);
        c.args([
            "--store-dir",
            self.store_dir,
            "--state-dir",
            "/var/b8g",
            "--root",
        ])
        .arg(self.root())
        .args(args);
        for var in [
            "B8G_STORE_DIR",
            "B8G_STATE_DIR",
            "B8G_STORE_ROOT",
            "B8G_CACHE_TOKEN",
        ] {
            c.env_remove(var);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run b8g")
    }

    /// Runs `b8g ARGS`, which must succeed, and returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        check(&out, args);
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

/// Fails the test with b8g's error output unless `out` is a success.
pub fn check(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "b8g {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
