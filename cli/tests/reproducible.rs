//! Reproducibility: images/minimal.nix (erofs) and images/server.nix (ext4, with
//! Debian's PostgreSQL, Redis, chrony and nftables as components) built twice, each time into a fresh,
//! empty store (different physical roots, the same store directory /b8g/store),
//! gives the same toplevel path and bit-identical initrd and root image
//! (compared by SHA-256). `system.build.image`, the image built as a derivation
//! by `builtin:b8g-root-image`, holds the same bytes as `b8g build --image` writes.
//!
//! Slow (two builds from nothing, about 3–4 minutes here): runs only with
//! `cargo xtask test --full` (ignored by default). Needs B8G_INIT_BIN (static
//! b8g-init), erofs-utils and apt package lists.

use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_store::format::hash::HashAlgo;

/// Builds the image into a store under `root`; returns (toplevel logical path, physical store dir).
fn build(root: &Path, bin: &str, file: &str, format: &str) -> (String, PathBuf) {
    let printed = b8g_build(
        root,
        bin,
        file,
        &["--image", "--image-format", format, "-o"],
        "result",
    );
    let physical = std::fs::read_link(root.join("result")).unwrap();
    (printed, physical.parent().unwrap().to_path_buf())
}

/// Runs `b8g build ARGS ROOT/LINK ... FILE`; returns what it printed.
fn b8g_build(root: &Path, bin: &str, file: &str, args: &[&str], link: &str) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root)
        .arg("build")
        .args(args)
        .arg(root.join(link))
        .args(["--b8g-bin", bin, file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "b8g build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// SHA-256 of a file the generation links to (an absolute link into the logical store).
fn linked_sha256(store: &Path, toplevel: &str, entry: &str) -> String {
    let name = Path::new(toplevel).file_name().unwrap();
    let target = std::fs::read_link(store.join(name).join(entry)).unwrap();
    let rel = target.strip_prefix("/b8g/store").unwrap();
    sha256(&store.join(rel))
}

fn sha256(file: &Path) -> String {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(!bytes.is_empty(), "{} is empty", file.display());
    HashAlgo::Sha256.digest(&bytes).to_nix32()
}

#[test]
#[ignore = "slow: build minimal.nix twice from empty stores; cargo xtask test --full runs it"]
fn minimal_image_is_bit_identical_from_two_empty_stores() {
    bit_identical_from_two_empty_stores("images/minimal.nix", "erofs");
}

#[test]
#[ignore = "slow: build server.nix (about 190 Debian packages) twice from empty stores; cargo xtask test --full runs it"]
fn server_image_is_bit_identical_from_two_empty_stores() {
    bit_identical_from_two_empty_stores("images/server.nix", "ext4");
}

fn bit_identical_from_two_empty_stores(file: &str, format: &str) {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (top_a, store_a) = build(a.path(), &bin, file, format);
    let (top_b, store_b) = build(b.path(), &bin, file, format);
    assert!(top_a.starts_with("/b8g/store/"), "{top_a}");
    assert_eq!(top_a, top_b, "the toplevel paths differ");
    assert_ne!(store_a, store_b, "the two builds shared a store");
    assert_eq!(
        linked_sha256(&store_a, &top_a, "initrd"),
        linked_sha256(&store_b, &top_b, "initrd"),
        "the initrds differ"
    );
    assert_eq!(
        sha256(&a.path().join("result.img")),
        sha256(&b.path().join("result.img")),
        "the root images differ"
    );
    // The image as a derivation (system.image.format), in the first store.
    b8g_build(a.path(), &bin, file, &["-A", "image", "-o"], "result-image");
    assert_eq!(
        sha256(&a.path().join("result-image/root.img")),
        sha256(&a.path().join("result.img")),
        "system.build.image differs from b8g build --image"
    );
}
