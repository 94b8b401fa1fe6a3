//! Shared fixture for the sandbox and realisation tests: a tiny input "closure"
//! holding only a static busybox, in a physical store directory that differs
//! from the logical one the builds see.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use b8g_builder::sandbox::{BindMount, BuildSpec, Sandbox, SandboxConfig};

/// The logical store directory the builds see.
pub const STORE: &str = "/b8g/store";
/// Base name of the busybox store path.
pub const BUSYBOX: &str = "0c4j5pzl4vw2mb9gn0a6ryx2nxr3kyq4-busybox";

/// Debian's busybox-static; the tests cannot run without it.
pub fn host_busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    assert!(
        p.is_file(),
        "these tests need a static busybox at /bin/busybox (Debian package busybox-static)"
    );
    p
}

/// A temporary directory with a physical store holding busybox.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The physical store directory (under `dir`).
    pub phys_store: PathBuf,
    counter: std::sync::atomic::AtomicUsize,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("b8g-sandbox-test")
            .tempdir()
            .expect("create temporary directory");
        let phys_store = dir.path().join("phys/b8g/store");
        let bin = phys_store.join(BUSYBOX).join("bin");
        std::fs::create_dir_all(&bin).expect("create fixture store");
        std::fs::copy(host_busybox(), bin.join("busybox")).expect("copy busybox");
        Fixture {
            dir,
            phys_store,
            counter: Default::default(),
        }
    }

    pub fn sandbox(&self, f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
        let mut config = SandboxConfig {
            store_dir: STORE.into(),
            ..Default::default()
        };
        f(&mut config);
        Sandbox::new(config).expect("valid sandbox configuration")
    }

    /// The busybox input as a bind mount (physical → logical).
    pub fn busybox_input(&self) -> BindMount {
        BindMount::new(
            self.phys_store.join(BUSYBOX),
            Path::new(STORE).join(BUSYBOX),
        )
    }

    /// A build running `busybox sh -c script` with one output `out`.
    pub fn sh(&self, script: &str) -> BuildSpec {
        BuildSpec {
            name: "test".into(),
            builder: Path::new(STORE).join(BUSYBOX).join("bin/busybox"),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: BTreeMap::new(),
            inputs: vec![self.busybox_input()],
            outputs: BTreeMap::from([(
                "out".to_owned(),
                Path::new(STORE).join("1b9p4h6fhmr1cxhlx8sfbsg1bjq0x3qm-test-out"),
            )]),
            network: false,
        }
    }

    /// A fresh scratch directory path (not yet created).
    pub fn scratch(&self) -> PathBuf {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.dir.path().join(format!("scratch-{n}"))
    }
}

/// Whether any process on the host has `marker` in its command line.
pub fn process_with_marker_exists(marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| c.split(|&b| b == 0).any(|arg| arg == marker.as_bytes()))
            .unwrap_or(false)
    })
}

/// Compiles the C program `source` with the host's gcc into a static binary at
/// `out` (a hostile builder that needs more than busybox can do).
pub fn compile_static_c(source: &str, out: &Path) {
    let src = out.with_extension("c");
    std::fs::write(&src, source).expect("write C source");
    let status = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(out)
        .arg(&src)
        .status()
        .expect("run gcc (these tests need gcc and libc6-dev)");
    assert!(status.success(), "gcc failed on {}", src.display());
    std::fs::remove_file(&src).expect("remove C source");
}

impl Fixture {
    /// Adds a store path `<name>` holding `bin/<prog>` compiled from
    /// `source`; returns its logical path and the bind mount that shows it.
    pub fn add_c_program(&self, name: &str, prog: &str, source: &str) -> (PathBuf, BindMount) {
        let bin = self.phys_store.join(name).join("bin");
        std::fs::create_dir_all(&bin).expect("create fixture store path");
        compile_static_c(source, &bin.join(prog));
        let logical = Path::new(STORE).join(name);
        (
            logical.join("bin").join(prog),
            BindMount::new(self.phys_store.join(name), logical),
        )
    }
}
