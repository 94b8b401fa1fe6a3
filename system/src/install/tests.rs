//! The disk layout, read back by other tools than the ones that wrote it:
//! util-linux's `partx` and `blkid`, dosfstools' `fsck.fat`.

use std::fs;
use std::process::Command;

use super::disk::{self, Layout, ESP_LABEL, MIB, ROOT_LABEL};
use crate::generations::loader::{self as esp, EspPlan};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool runs (util-linux, dosfstools)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_disk_has_both_partitions_with_their_file_systems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plan = EspPlan::default();
    plan.texts
        .insert("loader/loader.conf".into(), "default b8g-1.conf\n".into());
    let kernel = dir.path().join("kernel");
    fs::write(&kernel, vec![7u8; 300_000]).expect("kernel");
    plan.copies.insert("EFI/b8g/x-kernel".into(), kernel);
    let esp_img = dir.path().join("esp.img");
    esp::write(&esp_img, 64, &plan, "B8B80001").expect("esp");
    // dosfstools finds the file system clean.
    run(Command::new("fsck.fat").arg("-n").arg(&esp_img));
    assert_eq!(
        esp::read_file(&esp_img, "loader/loader.conf").expect("read back"),
        b"default b8g-1.conf\n"
    );
    assert_eq!(
        esp::read_file(&esp_img, "EFI/b8g/x-kernel").expect("read back"),
        vec![7u8; 300_000]
    );
    // The same plan gives the same bytes.
    let again = dir.path().join("again.img");
    esp::write(&again, 64, &plan, "B8B80001").expect("esp again");
    assert!(fs::read(&again).expect("read") == fs::read(&esp_img).expect("read"));

    let root_img = dir.path().join("root.img");
    fs::write(&root_img, b"root bytes").expect("root");
    let layout = Layout {
        esp_mib: 64,
        root_mib: 8,
    };
    let disk = dir.path().join("disk.img");
    disk::write(&disk, layout, &esp_img, &root_img).expect("disk");
    assert_eq!(fs::metadata(&disk).expect("stat").len(), 74 * MIB);
    // util-linux reads the table: names, starts and sizes in sectors.
    let table = run(Command::new("partx")
        .args(["--raw", "--noheadings", "-o", "NR,START,SECTORS,NAME"])
        .arg(&disk));
    assert_eq!(
        table,
        format!("1 2048 131072 {ESP_LABEL}\n2 133120 16384 {ROOT_LABEL}\n")
    );
    let probe = run(Command::new("blkid")
        .args(["-p", "-o", "export", "--offset"])
        .arg(MIB.to_string())
        .arg(&disk));
    assert!(
        probe.contains("TYPE=vfat") && probe.contains("LABEL=B8G-ESP"),
        "{probe}"
    );
    let bytes = fs::read(&disk).expect("read disk");
    let root_at = (MIB + 64 * MIB) as usize;
    assert_eq!(&bytes[root_at..root_at + 10], b"root bytes");
    let parts = disk::read_partitions(&disk).expect("read table");
    assert_eq!(parts[1], (ROOT_LABEL.to_string(), 65 * MIB, 8 * MIB));
}

#[test]
fn a_disk_too_small_for_the_image_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let esp_img = dir.path().join("esp.img");
    esp::write(&esp_img, 64, &EspPlan::default(), "B8B80001").expect("esp");
    let root_img = dir.path().join("root.img");
    fs::write(&root_img, vec![0u8; (3 * MIB) as usize]).expect("root");
    let layout = Layout {
        esp_mib: 64,
        root_mib: 2,
    };
    let e = disk::write(&dir.path().join("disk.img"), layout, &esp_img, &root_img)
        .expect_err("root image larger than its partition");
    assert!(e.to_string().contains("holds 2 MiB"), "{e}");
    assert_eq!(Layout::fill(60 * MIB, 64), None);
    assert_eq!(
        Layout::fill(100 * MIB, 64),
        Some(Layout {
            esp_mib: 64,
            root_mib: 34
        })
    );
}

#[test]
fn every_install_gets_its_own_file_system_identities() {
    let a = super::DiskIds::random().expect("ids");
    let b = super::DiskIds::random().expect("ids");
    assert_ne!(a, b);
    let u = &a.root_uuid;
    assert_eq!(u.len(), 36, "{u}");
    assert_eq!(&u[14..15], "4", "version 4: {u}");
    assert!("89ab".contains(&u[19..20]), "variant 1: {u}");
    assert!(u
        .chars()
        .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(a.esp_serial.len(), 8);
    assert!(a
        .esp_serial
        .chars()
        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    let m = a.module();
    assert!(m.contains(&format!("\"/dev/disk/by-uuid/{u}\"")), "{m}");
    assert!(
        m.contains(&format!("\"/dev/disk/by-uuid/{}\"", a.esp_uuid())),
        "{m}"
    );
    assert!(m.contains("systemd-boot.enable = true"), "{m}");
}
