//! `b8g --root MNT install SYSTEM.nix`: the system is built into the store of
//! the tree at MNT and installed there, with its EFI system partition at
//! MNT/boot, as `nixos-install --root` does (here MNT is a plain directory).
//!
//! Needs B8G_INIT_BIN (static b8g-init, set by `cargo xtask test`) and apt
//! package lists.

use std::fs;
use std::path::Path;
use std::process::Command;

use b8g_store::local::{LocalStore, StoreConfig};

#[test]
fn install_into_a_mounted_tree_makes_generation_1_and_its_loader_entry() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_b8g"))
            .current_dir(&workspace)
            .args(["-q", "--root"])
            .arg(&mnt)
            .args(["install", "--json", "--no-out-link", "--b8g-bin", &bin])
            .args(extra)
            .arg("images/minimal.nix")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "install failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["generation"], 1, "{report}");
    assert!(report["rootMiB"].is_null(), "{report}");
    // No ESP mounted at MNT/boot (this host cannot mount vfat): said, not refused.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("boot is not a mount point"), "{stderr}");
    let top = report["toplevel"].as_str().expect("toplevel").to_string();

    // The tree: the profile names the toplevel, valid in the tree's own store.
    let link = fs::read_link(mnt.join("b8g/var/profiles/system")).expect("profile link");
    assert_eq!(link.to_string_lossy(), "system-1-link");
    assert_eq!(
        fs::read_link(mnt.join("b8g/var/profiles/system-1-link"))
            .expect("generation link")
            .to_string_lossy(),
        top
    );
    let store = LocalStore::open(&StoreConfig {
        root: Some(mnt.clone()),
        ..StoreConfig::default()
    })
    .unwrap();
    assert!(store.is_valid(&store.parse_path(&top).unwrap()).unwrap());
    assert!(
        fs::symlink_metadata(mnt.join("bin/sh")).is_ok(),
        "no /bin/sh"
    );

    // The ESP: the loader, a blessed entry (good as installed), its kernel and initrd.
    let esp = mnt.join("boot");
    assert!(esp.join("EFI/BOOT/BOOTX64.EFI").is_file());
    assert!(esp.join("EFI/systemd/systemd-bootx64.efi").is_file());
    let entry = fs::read_to_string(esp.join("loader/entries/b8g-1.conf")).expect("entry");
    assert!(
        entry.contains(&format!("options b8g.system={top} ")),
        "{entry}"
    );
    for line in entry
        .lines()
        .filter(|l| l.starts_with("linux ") || l.starts_with("initrd "))
    {
        let file = line.split_once(' ').unwrap().1.trim_start_matches('/');
        assert!(esp.join(file).is_file(), "{line}: missing on the ESP");
    }
    let conf = fs::read_to_string(esp.join("loader/loader.conf")).expect("loader.conf");
    assert!(conf.starts_with("default b8g-*\n"), "{conf}");

    // Installing again is idempotent: still generation 1, nothing left over.
    let again = run(&[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let names: Vec<String> = fs::read_dir(esp.join("loader/entries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["b8g-1.conf"]);

    // Without a target it says what to do.
    let none = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["install", "images/minimal.nix"])
        .env_remove("B8G_STORE_ROOT")
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("--disk DEV|FILE, or the global --root MNT"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

/// Mistakes are refused before anything is built or written.
#[test]
fn install_refuses_options_it_cannot_honour_and_disks_that_hold_data() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let disk = dir.path().join("disk.img");
    let try_install = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
            .current_dir(&workspace)
            .args(["--root"])
            .arg(dir.path().join("store"))
            .args(["install", "--disk"])
            .arg(&disk)
            .args(extra)
            .arg("images/minimal.nix")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for flag in ["--dry-run", "--image", "--check"] {
        let e = try_install(&[flag]);
        assert!(
            e.contains(&format!("{flag} is not an option of install")),
            "{e}"
        );
    }
    let e = try_install(&["--esp-size", "10M"]);
    assert!(e.contains("--esp-size 10 MiB is too small"), "{e}");
    // A disk with a file system on it is kept unless --force says otherwise.
    let mut bytes = vec![0u8; 2 << 20];
    bytes[1080..1082].copy_from_slice(&[0x53, 0xef]); // the ext4 superblock's magic
    fs::write(&disk, &bytes).unwrap();
    let e = try_install(&[]);
    assert!(e.contains("holds data") && e.contains("--force"), "{e}");
    assert_eq!(fs::read(&disk).unwrap(), bytes, "the disk was touched");
    // A directory is no disk.
    fs::remove_file(&disk).unwrap();
    fs::create_dir(&disk).unwrap();
    let e = try_install(&[]);
    assert!(
        e.contains("neither a regular file nor a block device"),
        "{e}"
    );
    assert!(!dir.path().join("store").exists(), "something was built");
}

/// `--no-out-link` keeps its word for a system too: no `result`, no GC root.
#[test]
fn a_system_built_with_no_out_link_leaves_no_link_or_root() {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    let store_root = dir.path().join("store");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/minimal.nix");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&cwd)
        .args(["-q", "--root"])
        .arg(&store_root)
        .args(["build", "--no-out-link", "--b8g-bin", &bin])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let top = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(top.contains("-b8g-system-minimal"), "{top}");
    assert_eq!(
        fs::read_dir(&cwd).unwrap().count(),
        0,
        "something was linked"
    );
    let auto = store_root.join("b8g/var/b8g/gcroots/auto");
    assert_eq!(
        fs::read_dir(&auto).map(|d| d.count()).unwrap_or(0),
        0,
        "a GC root was made"
    );
}
