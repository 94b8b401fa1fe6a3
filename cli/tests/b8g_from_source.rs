//! b8g built by b8g (recipes/pkgs/b8g): from an empty store, b8g-init,
//! b8gctl, b8g and the unikernel shim are compiled in the sandbox with
//! Debian's rustc-web and cargo-web and the seed C toolchain, from crates that
//! `cargo vendor --locked` fetched in a fixed-output derivation. Each is
//! statically linked (no interpreter) and runs; `--check` rebuilds it and finds
//! the same bytes.
//!
//! Slow (two builds of the workspace on 2 cores): `cargo xtask test --full`.

use std::process::Command;

fn b8g(root: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_b8g"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .arg("--root")
        .arg(root);
    c
}

#[test]
#[ignore = "builds the whole workspace from source twice (about 25 minutes on 2 cores)"]
fn b8g_builds_itself_statically_and_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let link = dir.path().join("result");
    let expr = "(import ./recipes/pkgs { }).b8g-from-source";
    let out = b8g(&root)
        .args(["build", "-E", expr, "-o"])
        .arg(&link)
        .output()
        .expect("run b8g build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let real = root.join(path.trim_start_matches('/'));
    for bin in ["b8g-init", "b8gctl", "b8g", "b8g-unikernel-shim"] {
        let file = real.join("bin").join(bin);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(&bytes[..4], b"\x7fELF", "{bin}");
        let elf = Command::new("readelf")
            .arg("-l")
            .arg(&file)
            .output()
            .expect("readelf");
        let text = String::from_utf8_lossy(&elf.stdout);
        assert!(
            !text.contains("INTERP"),
            "{bin} asks for a dynamic loader:\n{text}"
        );
    }
    let help = Command::new(real.join("bin/b8gctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("usage: b8gctl"),
        "{help:?}"
    );
    let version = Command::new(real.join("bin/b8g"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success(), "{version:?}");
    // A second build of the same derivation gives the same bytes.
    let out = b8g(&root)
        .args(["build", "--check", "--no-out-link", "-E", expr])
        .output()
        .expect("run b8g build --check");
    assert!(
        out.status.success(),
        "--check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
