//! The disk and ESP layouts, read back by other tools than the ones that
//! wrote them: util-linux's `partx` and `blkid`, dosfstools' `fsck.fat`.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::disk::{self, Layout, ESP_LABEL, MIB, ROOT_LABEL};
use super::esp::{self, EspPlan};
use crate::generations::Generations;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool runs (util-linux, dosfstools)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree with two generations of a fake system (files where the store's would be).
fn tree(root: &Path) -> Generations {
    let store = root.join("b8g/store");
    for (top, kernel) in [("aaaa-b8g-system-box", "k1"), ("bbbb-b8g-system-box", "k2")] {
        let t = store.join(top);
        fs::create_dir_all(&t).expect("toplevel");
        fs::write(t.join("kernel"), kernel).expect("kernel");
        fs::write(t.join("initrd"), "initrd").expect("initrd");
        fs::write(t.join("kernel-params"), "b8g.system=@toplevel@ quiet\n").expect("params");
        fs::write(t.join("systemd-boot"), format!("loader of {top}")).expect("loader");
        fs::write(t.join("loader-timeout"), "7\n").expect("timeout");
    }
    let gens = Generations::new(Some(root), None);
    for top in ["aaaa-b8g-system-box", "bbbb-b8g-system-box"] {
        gens.profile
            .add(&format!("/b8g/store/{top}"))
            .expect("generation");
    }
    gens.profile.set_current(1).expect("default");
    gens
}

#[test]
fn the_esp_has_an_entry_per_generation_and_the_default_generations_loader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gens = tree(dir.path());
    let plan = esp::plan(dir.path(), &gens).expect("plan");
    let conf = &plan.texts["loader/loader.conf"];
    assert!(conf.contains("default b8g-1.conf\n"), "{conf}");
    assert!(
        conf.contains("timeout 7\n") && conf.contains("editor no\n"),
        "{conf}"
    );
    let e1 = &plan.texts["loader/entries/b8g-1.conf"];
    assert!(e1.starts_with("title b8g box generation 1 ("), "{e1}");
    assert!(
        e1.contains("options b8g.system=/b8g/store/aaaa-b8g-system-box quiet b8g.loader=systemd-boot console=tty0 console=ttyS0,115200\n"),
        "{e1}"
    );
    // The same initrd is one file; the kernels differ.
    let kernels: Vec<_> = plan
        .copies
        .keys()
        .filter(|k| k.ends_with("-kernel"))
        .collect();
    let initrds: Vec<_> = plan
        .copies
        .keys()
        .filter(|k| k.ends_with("-initrd"))
        .collect();
    assert_eq!((kernels.len(), initrds.len()), (2, 1), "{:?}", plan.copies);
    // The loader is the default generation's.
    let boot = &plan.copies[esp::FALLBACK_EFI];
    assert!(
        boot.ends_with("aaaa-b8g-system-box/systemd-boot"),
        "{boot:?}"
    );
}

#[test]
fn a_toplevel_without_a_loader_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gens = tree(dir.path());
    fs::remove_file(
        dir.path()
            .join("b8g/store/aaaa-b8g-system-box/systemd-boot"),
    )
    .expect("rm");
    let e = esp::plan(dir.path(), &gens).expect_err("no loader");
    assert!(
        e.to_string().contains("boot.loader.systemd-boot.enable"),
        "{e}"
    );
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
    esp::write(&esp_img, 64, &plan).expect("esp");
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
    esp::write(&again, 64, &plan).expect("esp again");
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
    esp::write(&esp_img, 64, &EspPlan::default()).expect("esp");
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
