//! Root images are reproducible: the same closure gives the same bytes (erofs and ext4).
//! Needs erofs-utils and e2fsprogs.

use b8g_kernel_adapters::linux::image::{Format, RootImage};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

fn fake_store(root: &Path) -> (Vec<String>, String) {
    let store = root.join("b8g/store");
    let a = store.join("11111111111111111111111111111111-hello");
    fs::create_dir_all(a.join("bin")).unwrap();
    fs::write(a.join("bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(a.join("bin/hello"), fs::Permissions::from_mode(0o555)).unwrap();
    let top = store.join("22222222222222222222222222222222-b8g-system-x");
    fs::create_dir_all(&top).unwrap();
    symlink(
        "/b8g/store/11111111111111111111111111111111-hello/bin/hello",
        top.join("hello"),
    )
    .unwrap();
    (
        vec![
            "/b8g/store/11111111111111111111111111111111-hello".into(),
            "/b8g/store/22222222222222222222222222222222-b8g-system-x".into(),
        ],
        "/b8g/store/22222222222222222222222222222222-b8g-system-x".into(),
    )
}

fn build(format: Format) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (closure, toplevel) = fake_store(dir.path());
    let base = dir.path().to_path_buf();
    let resolve = move |p: &str| -> Option<PathBuf> { Some(base.join(p.trim_start_matches('/'))) };
    let img = RootImage {
        store_dir: "/b8g/store",
        resolve: &resolve,
        closure: &closure,
        toplevel: &toplevel,
        format,
        ext4_free_mib: 8,
    };
    let out = dir.path().join("root.img");
    img.write(&dir.path().join("work"), &out).unwrap();
    fs::read(&out).unwrap()
}

#[test]
fn erofs_image_is_reproducible() {
    let a = build(Format::Erofs);
    // Builds in different seconds: the staging trees' ctimes differ.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build(Format::Erofs);
    assert!(!a.is_empty());
    assert!(a == b, "two erofs builds of the same closure differ");
}

#[test]
fn ext4_image_is_reproducible() {
    let a = build(Format::Ext4);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build(Format::Ext4);
    assert!(a == b, "two ext4 builds of the same closure differ");
    // Rewriting the ctimes must leave a file system e2fsck finds clean.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("root.img");
    fs::write(&img, &a).unwrap();
    let out = std::process::Command::new("e2fsck")
        .args(["-f", "-n"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "e2fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
