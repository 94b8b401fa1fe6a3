//! `b8g install --disk` of `images/minimal.nix` into a fresh store, then the
//! disk booted the way a machine boots it: UEFI firmware (OVMF, under qemu
//! TCG) finds systemd-boot on the EFI system partition, whose menu lists the
//! generation; its entry boots the kernel, stage 1 finds the root file system
//! by its UUID, and b8g-init brings the system up.
//!
//! Needs B8G_INIT_BIN (static b8g-init, set by `cargo xtask test`), qemu,
//! ovmf, dosfstools, mtools, e2fsprogs and apt package lists.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_store::format::signing::SecretKey;
use b8g_store::local::{LocalStore, StoreConfig};
use b8g_system::generations::snapshot;

mod vm_support;
use vm_support::Machine;

/// The static b8g beside the running generation's b8g-init.
const B8G: &str = "$(dirname $(readlink /run/current-system/init))/b8g";
/// A reboot (which ends qemu: -no-reboot).
const B8GCTL_REBOOT: &str = "$(dirname $(readlink /run/current-system/init))/b8gctl reboot";

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// qemu booting `disk` through OVMF (its variables in `vars`), with `extra`
/// as a second virtio disk, driven over the serial console.
fn uefi(disk: &Path, vars: &Path, extra: Option<&Path>) -> Machine {
    let extras: Vec<(&Path, bool)> = extra.map(|x| (x, true)).into_iter().collect();
    uefi_disks(disk, vars, &extras)
}

/// qemu booting `disk` through OVMF, with more virtio disks (`true`: read-only).
fn uefi_disks(disk: &Path, vars: &Path, extras: &[(&Path, bool)]) -> Machine {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-M", "q35", "-accel", "tcg", "-m", "1024", "-nodefaults"])
        .args(["-display", "none", "-serial", "stdio", "-no-reboot"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()));
    for (x, readonly) in extras {
        cmd.arg("-drive").arg(format!(
            "file={},if=virtio,format=raw{}",
            x.display(),
            if *readonly { ",readonly=on" } else { "" }
        ));
    }
    Machine::start(cmd)
}

/// Installs `config` (relative to the workspace) onto `disk` in the store under `root`.
fn install(root: &Path, disk: &Path, link: &Path, bin: &str, config: &str) -> serde_json::Value {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root)
        .args(["install", "--json", "--disk"])
        .arg(disk)
        .arg("-o")
        .arg(link)
        .args(["--b8g-bin", bin, config])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "install failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("--json prints JSON")
}

/// images/minimal.nix installed onto a disk image from a fresh store.
struct Installed {
    /// Scratch space: the store's root, the disk, whatever else the test makes.
    dir: tempfile::TempDir,
    root: PathBuf,
    disk: PathBuf,
    /// B8G_INIT_BIN.
    bin: String,
    /// `b8g install --json`'s report.
    report: serde_json::Value,
}

fn installed_minimal() -> Installed {
    let bin = std::env::var("B8G_INIT_BIN")
        .expect("set B8G_INIT_BIN to a directory with static bin/b8g-init (cargo xtask test does)");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let disk = dir.path().join("disk.img");
    let report = install(
        &root,
        &disk,
        &dir.path().join("result"),
        &bin,
        "images/minimal.nix",
    );
    Installed {
        dir,
        root,
        disk,
        bin,
        report,
    }
}

#[test]
fn installed_disk_boots_through_uefi_and_systemd_boot() {
    assert!(
        Path::new(OVMF_CODE).is_file(),
        "{OVMF_CODE} is needed (apt-get install ovmf)"
    );
    let Installed {
        dir,
        root: _,
        disk,
        bin: _,
        report,
    } = installed_minimal();
    assert_eq!(report["generation"], 1, "{report}");
    let files: Vec<&str> = report["espFiles"]
        .as_array()
        .expect("espFiles")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    for f in [
        "EFI/BOOT/BOOTX64.EFI",
        "EFI/systemd/systemd-bootx64.efi",
        "loader/loader.conf",
        "loader/entries/b8g-1.conf",
    ] {
        assert!(files.contains(&f), "{f} missing from the ESP: {files:?}");
    }
    // The installed disk keeps its file systems' module for later generations.
    assert!(
        report["hardwareConfiguration"]
            .as_str()
            .is_some_and(|m| m.contains("/dev/disk/by-uuid/")),
        "{report}"
    );
    // The disk is as big as the system needs, not a fixed size.
    let size = std::fs::metadata(&disk).unwrap().len() >> 20;
    assert!((300..4096).contains(&size), "disk of {size} MiB");

    let vars: PathBuf = dir.path().join("vars.fd");
    std::fs::copy(OVMF_VARS, &vars).expect("OVMF variables");
    let mut m = uefi(&disk, &vars, None);
    m.expect("b8g: system ready in", 400);
    let console = m.kill();
    // The menu (drawn on the serial console by the firmware) lists the generation.
    assert!(
        console.contains("b8g minimal generation 1 ("),
        "no menu entry for generation 1:\n{console}"
    );
    assert!(
        console.contains("b8g: system ready in"),
        "the installed system did not come up:\n{console}"
    );
    assert!(
        console.contains("hello from minimal on b8g"),
        "hello.service did not run:\n{console}"
    );
    assert!(!console.contains("b8g stage 1: skipping"), "{console}");
}

/// Generation 2: the installed system under another host name.
const SECOND: &str = r#"{ lib, ... }: {
  imports = [ @WORKSPACE@/images/minimal.nix ./install.nix ];
  networking.hostName = lib.mkForce "second";
}
"#;

/// Generation 3: generation 2 with a health check that fails, so its boots
/// are never good; two tries.
const BROKEN: &str = r#"{ ... }: {
  imports = [ ./second.nix ];
  boot.bootTries = 2;
  system.healthChecks = [ "test -e /no-such-file" ];
}
"#;

/// Generation 4: generation 2 whose kernel panics (it cannot start stage 1);
/// two tries.
const PANICS: &str = r#"{ ... }: {
  imports = [ ./second.nix ];
  boot.bootTries = 2;
  boot.kernelParams = [ "rdinit=/no-such-init" ];
}
"#;

/// Builds `file` in the store under `root`; returns the toplevel.
fn build(root: &Path, bin: &str, file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .args(["-q", "--root"])
        .arg(root)
        .args(["build", "--no-out-link", "--b8g-bin", bin])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Imports NAME.snapshot from the carried disk as the next boot's default
/// (generation `n`, two tries), reboots, sees both tries end with `failure` on
/// the console, and boots back to the fallback. Returns that machine and what it
/// says about itself (hostname, toplevel, the ESP's entries, list-generations).
#[allow(clippy::too_many_arguments)]
fn two_failed_tries(
    mut m: Machine,
    disk: &Path,
    vars: &Path,
    carry_img: &Path,
    log: &mut String,
    name: &str,
    n: u32,
    failure: &str,
) -> (Machine, String) {
    let (out, code) = m.run(
        &format!(
            "mount -o ro /dev/vdb /mnt; {B8G} snapshot import /mnt/{name}.snapshot --boot \
             --trusted-public-keys /mnt/key.pub && ls /boot/loader/entries"
        ),
        300,
    );
    assert_eq!(code, 0, "{out}\n{}", m.log);
    assert!(out.contains(&format!("b8g-{n}+2.conf")), "{out}");
    m.send(B8GCTL_REBOOT);
    assert!(m.ended(120), "no reboot:\n{}", m.log);
    log.push_str(&m.kill());
    for attempt in 1..=2 {
        let mut m = uefi(disk, vars, Some(carry_img));
        m.expect(failure, 300);
        assert!(
            m.ended(180),
            "attempt {attempt}: no reboot after {failure:?}:\n{}",
            m.log
        );
        log.push_str(&m.kill());
    }
    let mut m = boot_to_shell(disk, vars, Some(carry_img), log);
    let (out, _) = m.run(
        &format!("cat /etc/hostname; readlink /run/current-system; ls /boot/loader/entries; {B8G} system list-generations"),
        60,
    );
    (m, out)
}

/// An ext4 image of `size` holding the files of `from`: a disk to carry them into the VM.
fn ext4_image(from: &Path, img: &Path, size: &str) {
    let mk = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(from)
        .arg(img)
        .arg(size)
        .output()
        .unwrap();
    assert!(
        mk.status.success(),
        "{}",
        String::from_utf8_lossy(&mk.stderr)
    );
}

/// Signed snapshots (`NAME.snapshot`) of toplevels in the store under `root`,
/// and the key's public half (`key.pub`), on a disk image made in `dir`.
fn carry_snapshots(root: &Path, dir: &Path, tops: &[(&str, &String)]) -> PathBuf {
    let store = LocalStore::open(&StoreConfig {
        root: Some(root.to_path_buf()),
        ..StoreConfig::default()
    })
    .unwrap();
    let key = SecretKey::from_seed("install-vm-1", &[9; 32]).unwrap();
    let carry = dir.join("carry");
    fs::create_dir_all(&carry).unwrap();
    for (name, top) in tops {
        let p = store.parse_path(top).unwrap();
        snapshot::export(&store, &p, &key, &carry.join(format!("{name}.snapshot"))).unwrap();
    }
    fs::write(carry.join("key.pub"), key.public().to_string()).unwrap();
    let img = dir.join("carry.img");
    ext4_image(&carry, &img, "256M");
    img
}

/// Boots until the autologin shell answers; returns the machine.
fn boot_to_shell(disk: &Path, vars: &Path, extra: Option<&Path>, log: &mut String) -> Machine {
    let mut m = uefi(disk, vars, extra);
    m.shell();
    log.push_str(&m.log);
    m
}

#[test]
#[ignore = "slow: two more systems and six UEFI boots under TCG; cargo xtask test --full runs it"]
fn the_loader_switches_counts_tries_and_falls_back_by_itself() {
    let Installed {
        dir,
        root,
        disk,
        bin,
        report,
    } = installed_minimal();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    // Later generations of the machine mount the file systems of this disk.
    let hardware = report["hardwareConfiguration"]
        .as_str()
        .expect("hardwareConfiguration")
        .to_string();

    // Generations 2 and 3, carried to the machine as signed snapshots on a second disk.
    let cfg = dir.path().join("cfg");
    fs::create_dir_all(&cfg).unwrap();
    fs::write(cfg.join("install.nix"), &hardware).unwrap();
    fs::write(
        cfg.join("second.nix"),
        SECOND.replace("@WORKSPACE@", &workspace.to_string_lossy()),
    )
    .unwrap();
    fs::write(cfg.join("broken.nix"), BROKEN).unwrap();
    fs::write(cfg.join("panics.nix"), PANICS).unwrap();
    let second = build(&root, &bin, &cfg.join("second.nix"));
    let broken = build(&root, &bin, &cfg.join("broken.nix"));
    let panics = build(&root, &bin, &cfg.join("panics.nix"));
    let carry_img = carry_snapshots(
        &root,
        dir.path(),
        &[
            ("second", &second),
            ("broken", &broken),
            ("panics", &panics),
        ],
    );

    let vars = dir.path().join("vars.fd");
    fs::copy(OVMF_VARS, &vars).unwrap();
    let mut log = String::new();

    // Generation 1 boots; generation 2 comes in and becomes the next boot's default.
    let mut m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    let (out, code) = m.run(
        &format!(
            "mkdir -p /mnt && mount -o ro /dev/vdb /mnt && {B8G} snapshot import /mnt/second.snapshot --boot \
             --trusted-public-keys /mnt/key.pub && ls /boot/loader/entries"
        ),
        300,
    );
    assert_eq!(code, 0, "{out}\n{}", m.log);
    assert!(
        out.contains("b8g-1.conf") && out.contains("b8g-2+3.conf"),
        "{out}"
    );
    m.send(B8GCTL_REBOOT);
    assert!(m.ended(120), "no reboot:\n{}", m.log);
    log.push_str(&m.kill());

    // The loader boots generation 2, which proves good and is blessed.
    let mut m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    m.expect("b8g: generation 2 is good", 120);
    m.expect("b8g: boot loader entry b8g-2.conf blessed", 30);
    let (out, _) = m.run("cat /etc/hostname; ls /boot/loader/entries", 30);
    assert!(out.contains("second"), "{out}");
    assert!(
        out.contains("b8g-2.conf") && !out.contains("b8g-2+"),
        "{out}"
    );

    // Generation 3's health check fails: two tries, then generation 2 again.
    let (m, out) = two_failed_tries(
        m,
        &disk,
        &vars,
        &carry_img,
        &mut log,
        "broken",
        3,
        "b8g: boot of generation 3 failed",
    );
    assert!(
        out.contains("second") && out.contains(&second),
        "not back on generation 2:\n{out}"
    );
    assert!(out.contains("b8g-3+0-2.conf"), "{out}");
    assert!(
        out.contains("failed: health check failed: test -e /no-such-file"),
        "list-generations does not say why 3 failed:\n{out}"
    );
    // Generation 4's kernel panics: the reboot (panic=) counts its tries down
    // until the loader falls back to generation 2 again.
    let (m, out) = two_failed_tries(
        m,
        &disk,
        &vars,
        &carry_img,
        &mut log,
        "panics",
        4,
        "Kernel panic",
    );
    assert!(out.contains(&second), "not back on generation 2:\n{out}");
    assert!(out.contains("b8g-4+0-2.conf"), "{out}");
    assert!(
        out.contains("failed: its boots never reached the default target"),
        "list-generations does not say why 4 failed:\n{out}"
    );
    let console = m.kill();
    assert!(
        console.contains("b8g minimal generation 1 (")
            && console.contains("b8g second generation 3 ("),
        "the menu does not list the generations:\n{console}"
    );
}

/// Generation 2 of the kernel test: the same machine on Debian's cloud kernel.
const CLOUD: &str = r#"{ lib, pkgs, ... }: {
  imports = [ @WORKSPACE@/images/minimal.nix ./install.nix ];
  networking.hostName = lib.mkForce "cloud";
  boot.kernel.package = lib.mkForce pkgs.linux-cloud;
}
"#;

/// The running kernel and generation, as one line `KERNEL TOPLEVEL`.
fn kernel_and_system(m: &mut Machine) -> (String, String) {
    let (out, code) = m.run("echo KS $(uname -r) $(readlink /run/current-system)", 30);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("KS "))
        .unwrap_or_else(|| panic!("no kernel line in {out:?}"))
        .to_string();
    let (k, s) = line.split_once(' ').unwrap_or((&line, ""));
    (k.to_string(), s.trim().to_string())
}

#[test]
#[ignore = "slow: a second kernel and a dozen UEFI boots under TCG; cargo xtask test --full runs it"]
fn a_new_kernel_through_the_loader_and_power_cuts_during_switch() {
    let Installed {
        dir,
        root,
        disk,
        bin,
        report,
    } = installed_minimal();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap();
    let first = report["toplevel"].as_str().expect("toplevel").to_string();
    let cfg = dir.path().join("cfg");
    fs::create_dir_all(&cfg).unwrap();
    fs::write(
        cfg.join("install.nix"),
        report["hardwareConfiguration"].as_str().unwrap(),
    )
    .unwrap();
    fs::write(
        cfg.join("cloud.nix"),
        CLOUD.replace("@WORKSPACE@", &workspace.to_string_lossy()),
    )
    .unwrap();
    let cloud = build(&root, &bin, &cfg.join("cloud.nix"));
    let carry_img = carry_snapshots(&root, dir.path(), &[("cloud", &cloud)]);
    let vars = dir.path().join("vars.fd");
    fs::copy(OVMF_VARS, &vars).unwrap();
    let mut log = String::new();

    // A live switch to the cloud kernel's generation puts its kernel beside the first on the ESP.
    let mut m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    let (kernel, _) = kernel_and_system(&mut m);
    assert!(!kernel.contains("cloud"), "{kernel}");
    let (out, code) = m.run(
        &format!(
            "mkdir -p /mnt && mount -o ro /dev/vdb /mnt && {B8G} snapshot import /mnt/cloud.snapshot \
             --trusted-public-keys /mnt/key.pub && {B8G} system switch {cloud} && for f in /boot/EFI/b8g/*-kernel; do echo \"ESP $f\"; done"
        ),
        400,
    );
    assert_eq!(code, 0, "{out}\n{}", m.log);
    let kernels = out
        .lines()
        .filter(|l| l.starts_with("ESP ") && l.ends_with("-kernel"))
        .count();
    assert_eq!(kernels, 2, "two kernels on the ESP:\n{out}");
    m.send(B8GCTL_REBOOT);
    assert!(m.ended(120), "no reboot:\n{}", m.log);
    log.push_str(&m.kill());

    // The loader boots the new generation on its own kernel, which proves good.
    let mut m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    let blessed = "b8g: boot loader entry b8g-2.conf blessed";
    if !m.log.contains(blessed) {
        m.expect(blessed, 120);
    }
    let (kernel, system) = kernel_and_system(&mut m);
    assert!(
        kernel.ends_with("-cloud-amd64") && system == cloud,
        "booted {kernel} {system}, not the cloud generation:\n{}",
        m.log
    );

    // `b8g system rollback`, then a reboot: the first generation on its own kernel.
    let (out, code) = m.run(
        &format!("{B8G} system rollback && cat /boot/loader/loader.conf"),
        300,
    );
    assert_eq!(code, 0, "{out}\n{}", m.log);
    m.send(B8GCTL_REBOOT);
    assert!(m.ended(120), "no reboot:\n{}", m.log);
    log.push_str(&m.kill());
    let mut m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    let (kernel, system) = kernel_and_system(&mut m);
    assert!(
        !kernel.ends_with("-cloud-amd64") && system == first,
        "after the rollback booted {kernel} {system}, not generation 1:\n{}",
        m.log
    );

    // Power cuts at random moments of switches between the two kernels: every
    // boot after one comes up on one of the generations, with that generation's kernel.
    let mut seed: u64 = std::process::id() as u64 ^ 0x2545_f491_4f6c_dd1d;
    for round in 0..10 {
        let (kernel, cur) = kernel_and_system(&mut m);
        assert!(
            cur == first || cur == cloud,
            "round {round}: booted {cur}:\n{log}{}",
            m.log
        );
        assert_eq!(
            kernel.ends_with("-cloud-amd64"),
            cur == cloud,
            "round {round}: generation {cur} on kernel {kernel}:\n{log}{}",
            m.log
        );
        let other = if cur == first { &cloud } else { &first };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis((seed >> 33) % 6000);
        m.send(&format!("{B8G} system switch {other}"));
        std::thread::sleep(delay);
        log.push_str(&m.kill());
        log.push_str(&format!(
            "\n==== power cut {delay:?} into the switch (round {round}) ====\n"
        ));
        m = boot_to_shell(&disk, &vars, Some(&carry_img), &mut log);
    }
    let (kernel, cur) = kernel_and_system(&mut m);
    assert!(cur == first || cur == cloud, "booted {cur}:\n{log}");
    assert_eq!(kernel.ends_with("-cloud-amd64"), cur == cloud, "{log}");
    m.kill();
}

/// The system installed by hand from inside the VM: its file systems by the
/// labels given when they were made.
const HANDMADE: &str = r#"{ lib, ... }: {
  imports = [ @CARRY@/images/minimal.nix ];
  networking.hostName = lib.mkForce "handmade";
  fileSystems."/" = lib.mkForce { device = "/dev/disk/by-label/b8g-handmade"; fsType = "ext4"; };
  fileSystems."/boot" = { device = "/dev/disk/by-label/HANDESP"; fsType = "vfat"; options = [ "umask=0077" ]; neededForBoot = true; };
}
"#;

/// Runs the b8g under test; panics with its output when it fails.
fn b8g(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "b8g {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "slow: an installation inside a UEFI VM under TCG, then a boot of its disk; cargo xtask test --full runs it"]
fn installs_from_inside_a_running_system_onto_a_second_disk_with_root() {
    let Installed {
        dir,
        root: _,
        disk,
        bin,
        report: _,
    } = installed_minimal();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // What the installer carries in (a disk mounted at the same path inside the
    // VM, so both sides evaluate the same files): recipes, the configuration,
    // and a signed binary cache, as cache.nixos.org serves nixos-install.
    let carry = dir.path().join("carry");
    fs::create_dir_all(carry.join("images")).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(workspace.join("recipes"))
        .arg(&carry)
        .status()
        .unwrap();
    assert!(cp.success());
    fs::copy(
        workspace.join("images/minimal.nix"),
        carry.join("images/minimal.nix"),
    )
    .unwrap();
    let c = carry.to_string_lossy().into_owned();
    fs::write(carry.join("handmade.nix"), HANDMADE.replace("@CARRY@", &c)).unwrap();
    let key_dir = dir.path().join("keys");
    fs::create_dir_all(&key_dir).unwrap();
    let secret = key_dir.join("k.secret");
    let public = carry.join("key.pub");
    b8g(&[
        "cache",
        "key",
        "generate",
        "install-vm-3",
        "--secret-file",
        &secret.to_string_lossy(),
        "--public-file",
        &public.to_string_lossy(),
    ]);
    // The cache's content: the same installation made on the host into a scratch tree.
    let scratch = dir.path().join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    let s = scratch.to_string_lossy().into_owned();
    let report = b8g(&[
        "-q",
        "--root",
        &s,
        "install",
        "--json",
        "--no-out-link",
        "--recipes",
        &format!("{c}/recipes"),
        "--b8g-bin",
        &bin,
        &format!("{c}/handmade.nix"),
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let top = report["toplevel"].as_str().unwrap().to_string();
    b8g(&[
        "--root",
        &s,
        "cache",
        "push",
        &format!("file://{c}/cache"),
        &top,
        "--key",
        &secret.to_string_lossy(),
    ]);
    let carry_img = dir.path().join("carry.img");
    ext4_image(&carry, &carry_img, "1G");
    let target = dir.path().join("target.img");
    fs::File::create(&target).unwrap().set_len(1 << 30).unwrap();

    let vars = dir.path().join("vars.fd");
    fs::copy(OVMF_VARS, &vars).unwrap();
    let mut m = uefi_disks(&disk, &vars, &[(&target, false), (&carry_img, true)]);
    m.shell();
    // By hand, as the NixOS manual installs: partition, make file systems with
    // labels, mount them, install into the mounted tree. The new system's b8g
    // is the running one's (b8g's default inside a system; its store path is
    // carried into the new store).
    let steps = [
        format!("mkdir -p {c} && mount -o ro /dev/vdc {c}"),
        "printf 'o\\nn\\np\\n1\\n2048\\n+256M\\nt\\nef\\nn\\np\\n2\\n526336\\n\\nw\\n' | fdisk /dev/vdb >/dev/null; ls /dev/vdb2"
            .to_string(),
        "mkdosfs -n HANDESP /dev/vdb1 && mke2fs -q -L b8g-handmade /dev/vdb2".to_string(),
        "mkdir -p /mnt && mount -t ext4 /dev/vdb2 /mnt && mkdir -p /mnt/boot && mount -t vfat /dev/vdb1 /mnt/boot \
         && cat /proc/partitions && df /mnt /mnt/boot"
            .to_string(),
        format!(
            "{B8G} -q --root /mnt install --recipes {c}/recipes \
             --substituters file://{c}/cache --trusted-public-keys {c}/key.pub {c}/handmade.nix; \
             rc=$?; df /mnt /mnt/boot /tmp; df -i /mnt; du -s /mnt/b8g/store/* | sort -n | tail -n 5; (exit $rc)"
        ),
        "ls /mnt/boot/loader/entries && readlink /mnt/b8g/var/profiles/system-1-link && sync && umount /mnt/boot /mnt"
            .to_string(),
    ];
    for step in &steps {
        let (out, code) = m.run(step, 1200);
        assert_eq!(code, 0, "{step} failed:\n{out}\n{}", m.log);
    }
    assert!(
        m.log.contains("b8g-1.conf") && m.log.contains(&format!("\n{top}")),
        "no entry for generation 1 of {top} on the new disk:\n{}",
        m.log
    );
    m.send(B8GCTL_REBOOT);
    assert!(m.ended(120), "no reboot:\n{}", m.log);
    m.kill();

    // The new disk alone, as another machine would boot it.
    let vars2 = dir.path().join("vars2.fd");
    fs::copy(OVMF_VARS, &vars2).unwrap();
    let mut m = uefi(&target, &vars2, None);
    m.shell();
    let (out, _) = m.run("cat /etc/hostname; readlink /run/current-system", 60);
    assert!(
        out.contains("handmade") && out.contains(&top),
        "the new disk did not boot its system:\n{out}\n{}",
        m.log
    );
    let console = m.kill();
    assert!(
        console.contains("b8g handmade generation 1 ("),
        "the menu does not list the generation:\n{console}"
    );
}
