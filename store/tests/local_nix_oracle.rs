//! The local store against Nix 2.8: text paths (`builtins.toFile`, with and
//! without references) get the same store path, NAR hash and references.
//! Needs `nix-instantiate` and `nix-store` (Debian `nix-bin`); fails clearly
//! without them. Nix runs against a throw-away chroot store only.

use std::path::PathBuf;
use std::process::Command;

use b8g_store::format::store_path::StoreDir;
use b8g_store::local::{LocalStore, StoreConfig};

fn nix(root: &std::path::Path, tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .env("NIX_REMOTE", format!("local?root={}", root.display()))
        .output()
        .unwrap_or_else(|e| panic!("this test needs `{tool}` (Debian package nix-bin): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn text_paths_match_builtins_to_file() {
    let nix_root = tempfile::tempdir().expect("tempdir");
    let ours_root = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&StoreConfig {
        store_dir: StoreDir::new("/nix/store").expect("store dir"),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(ours_root.path().to_owned()),
    })
    .expect("open");

    let expr =
        r#"let a = builtins.toFile "a" "x\n"; in builtins.toFile "b.txt" "uses ${a} twice: ${a}""#;
    let nix_b = nix(
        nix_root.path(),
        "nix-instantiate",
        &["--eval", "--read-write-mode", "--expr", expr],
    );
    let nix_b = nix_b.trim_matches('"').to_owned();
    let nix_a = nix(
        nix_root.path(),
        "nix-store",
        &["--query", "--references", &nix_b],
    );

    let a = store.add_text("a", b"x\n", &[]).expect("a");
    assert_eq!(store.print_path(&a), nix_a);
    let b_contents = format!("uses {0} twice: {0}", store.print_path(&a));
    let b = store
        .add_text("b.txt", b_contents.as_bytes(), std::slice::from_ref(&a))
        .expect("b");
    assert_eq!(store.print_path(&b), nix_b);

    let nix_hash = nix(nix_root.path(), "nix-store", &["--query", "--hash", &nix_b]);
    let info = store.path_info(&b).expect("query").expect("valid");
    assert_eq!(format!("sha256:{}", info.nar_hash.to_nix32()), nix_hash);
    let nix_size = nix(nix_root.path(), "nix-store", &["--query", "--size", &nix_b]);
    assert_eq!(info.nar_size.to_string(), nix_size);
}
