//! Generations end to end under qemu (TCG): a persistent ext4 root holding the
//! store (with its database) and the closures of several generations, booted
//! from the first generation's kernel and initrd (direct kernel boot, so stage
//! 1 picks the generation from the profile and the boot entries).
//!
//! Every guest reboot ends qemu (`-no-reboot`, `panic=-1`); the test starts it
//! again on the same disk, which is what a reboot is for stage 1.
//!
//! - `switch_reboot_rollback` (ignored; `cargo xtask test --full`): generation 1 boots; `b8g system
//!   switch` to generation 2 starts its new service without a reboot; after a
//!   reboot generation 2 runs (and is marked good); `b8g system rollback`
//!   stops the service again.
//! - `failed_generations_fall_back` (ignored; `cargo xtask test --full`): a generation whose
//!   default target fails, and one whose init is missing (kernel panic), each
//!   come back to generation 2 within their tries, with the reason on the
//!   console and in `list-generations`.
//! - `power_loss_during_switch` (ignored; `cargo xtask test --full`): qemu killed at random
//!   moments during `switch`, 10 times; every next boot reaches generation 1 or 2.
//!
//! Needs B8G_INIT_BIN (static b8g-init, b8gctl and b8g: `cargo xtask test`),
//! qemu-system-x86, e2fsprogs and apt package lists.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use b8g_kernel_adapters::linux::qemu::Vm;
use b8g_kernel_adapters::linux::system::{follow, kernel_params, SystemError};
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{LocalStore, StoreConfig};
use b8g_system::generations::{snapshot, Generations};

mod vm_support;
use vm_support::Machine;

/// The static b8g beside the running generation's b8g-init (pkgs.b8g).
const B8G: &str = "$(dirname $(readlink /run/current-system/init))/b8g";

/// Its b8gctl.
const B8GCTL: &str = "$(dirname $(readlink /run/current-system/init))/b8gctl";

const COMMON: &str = r#"{ pkgs, ... }: {
  networking.hostName = "gens";
  boot.kernel.package = pkgs.linux;
  boot.kernelParams = [ "quiet" ];
  fileSystems."/" = { device = "/dev/vda"; fsType = "ext4"; };
  services.getty.autologinUser = "root";
  environment.systemPackages = [ pkgs.busybox pkgs.b8g ];
}
"#;

const EXTRA: &str = r#"{ ... }: {
  imports = [ ./common.nix ];
  systemd.services.extra = {
    description = "The service generation 2 adds";
    wantedBy = [ "multi-user.target" ];
    serviceConfig.StandardOutput = "journal+console";
    script = ''
      echo "extra service started"
      while true; do sleep 1; done
    '';
  };
}
"#;

const BROKEN: &str = r#"{ ... }: {
  imports = [ ./gen2.nix ];
  systemd.services.broken = {
    description = "A required service that cannot start";
    requiredBy = [ "multi-user.target" ];
    before = [ "multi-user.target" ];
    serviceConfig.Type = "oneshot";
    script = "exit 3";
  };
}
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    store_cfg: StoreConfig,
    /// Logical toplevels of generations 1, 2, 3 (default target fails), 4 (init missing).
    tops: Vec<String>,
    /// The pristine disk: generation 1 in the profile, all closures in the store.
    image: PathBuf,
}

fn bin_dir() -> PathBuf {
    let bin = std::env::var("B8G_INIT_BIN").expect(
        "set B8G_INIT_BIN to a directory with static bin/b8g-init, bin/b8gctl and bin/b8g (cargo xtask test does)",
    );
    let bin = PathBuf::from(bin);
    for b in ["b8g-init", "b8gctl", "b8g"] {
        assert!(
            bin.join("bin").join(b).is_file(),
            "{} has no bin/{b}: build the static binaries with `cargo xtask test` (STATIC_BINS)",
            bin.display()
        );
    }
    bin
}

fn build(root: &Path, bin: &Path, file: &Path, link: &Path) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_b8g"))
        .current_dir(&workspace)
        .args(["-q", "--root"])
        .arg(root)
        .args(["build", "-o"])
        .arg(link)
        .arg("--b8g-bin")
        .arg(bin)
        .arg(file)
        .output()
        .expect("run b8g build");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A generation like `like` whose `init` points at a file that does not exist:
/// switch_root cannot exec it, stage 1 dies, the kernel panics.
fn panicking_system(store: &LocalStore, like: &str) -> String {
    let like_path = store.parse_path(like).unwrap();
    let path = StorePath::from_parts([0x44; 20], "b8g-system-gens-noinit").unwrap();
    let real = store.real_path(&path);
    fs::create_dir_all(&real).unwrap();
    for e in fs::read_dir(store.real_path(&like_path)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "init" {
            continue;
        }
        match fs::read_link(e.path()) {
            Ok(t) => std::os::unix::fs::symlink(t, real.join(&name)).unwrap(),
            Err(_) => {
                fs::copy(e.path(), real.join(&name)).unwrap();
            }
        }
    }
    std::os::unix::fs::symlink(format!("{like}/no-such-init"), real.join("init")).unwrap();
    let candidates: BTreeSet<StorePath> = store.closure([&like_path]).unwrap();
    store
        .register_built_paths(std::slice::from_ref(&path), &candidates, None)
        .unwrap();
    store.print_path(&path)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let bin = bin_dir();
        for tool in ["qemu-system-x86_64", "mkfs.ext4"] {
            assert!(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {tool}"))
                    .output()
                    .unwrap()
                    .status
                    .success(),
                "{tool} is needed (apt-get install qemu-system-x86 e2fsprogs)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let cfgs = dir.path().join("cfg");
        fs::create_dir_all(&cfgs).unwrap();
        fs::write(cfgs.join("common.nix"), COMMON).unwrap();
        fs::write(
            cfgs.join("gen1.nix"),
            "{ ... }: { imports = [ ./common.nix ]; }\n",
        )
        .unwrap();
        fs::write(cfgs.join("gen2.nix"), EXTRA).unwrap();
        fs::write(cfgs.join("gen3.nix"), BROKEN).unwrap();
        let root = dir.path().join("host");
        let mut tops = Vec::new();
        for g in 1..=3 {
            tops.push(build(
                &root,
                &bin,
                &cfgs.join(format!("gen{g}.nix")),
                &dir.path().join(format!("result{g}")),
            ));
        }
        let store_cfg = StoreConfig {
            root: Some(root.clone()),
            ..Default::default()
        };
        let store = LocalStore::open(&store_cfg).unwrap();
        tops.push(panicking_system(&store, &tops[1]));

        // The disk's tree: a store with a database, filled the way a snapshot import fills it.
        let key = SecretKey::from_seed("gens-test-1", &[5; 32]).unwrap();
        let tree = dir.path().join("tree");
        let tstore = LocalStore::open(&StoreConfig {
            root: Some(tree.clone()),
            ..Default::default()
        })
        .unwrap();
        for (i, t) in tops.iter().enumerate() {
            let snap = dir.path().join(format!("gen{i}.snapshot"));
            snapshot::export(&store, &store.parse_path(t).unwrap(), &key, &snap).unwrap();
            snapshot::import(&tstore, &snap, &[key.public()]).unwrap();
            fs::remove_file(&snap).unwrap();
        }
        let gens = Generations::new(Some(&tree), None);
        let n = gens
            .install(&tstore, &tstore.parse_path(&tops[0]).unwrap(), true)
            .unwrap();
        gens.boot.mark_good(n).unwrap();
        drop(tstore);
        for d in [
            "dev", "proc", "sys", "run", "tmp", "etc", "var", "root", "home", "bin", "usr/bin",
        ] {
            fs::create_dir_all(tree.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("/run/current-system/sw/bin/sh", tree.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/run/current-system/sw/bin/env", tree.join("usr/bin/env"))
            .unwrap();
        let du = Command::new("du")
            .args(["-sm"])
            .arg(&tree)
            .output()
            .unwrap();
        let mib: u64 = String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap();
        let image = dir.path().join("disk.img");
        let out = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "b8g-root", "-E", "root_owner=0:0", "-d"])
            .arg(&tree)
            .arg(&image)
            .arg(format!("{}M", mib * 3 / 2 + 128))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mkfs.ext4: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::remove_dir_all(&tree).unwrap();
        Fixture {
            _dir: dir,
            store_cfg,
            tops,
            image,
        }
    })
}

/// Boots generation 1's kernel and initrd (direct kernel boot) on `disk`.
fn boot(f: &Fixture, disk: &Path) -> Machine {
    let store = LocalStore::open(&f.store_cfg).unwrap();
    let resolve = |logical: &str| -> Result<PathBuf, SystemError> {
        Ok(match store.store_dir().parse_path_prefix(logical) {
            Ok((p, rest)) => store.real_path(&p).join(rest.trim_start_matches('/')),
            Err(_) => PathBuf::from(logical),
        })
    };
    let top = &f.tops[0];
    let mut vm = Vm::new(follow(&resolve, &format!("{top}/kernel")).unwrap());
    vm.initrd = Some(follow(&resolve, &format!("{top}/initrd")).unwrap());
    vm.cmdline = kernel_params(&resolve, top).unwrap();
    vm.memory_mb = 512;
    vm.extra.extend([
        "-drive".to_string(),
        format!("file={},if=virtio,format=raw", disk.display()),
    ]);
    let mut cmd = Command::new(&vm.qemu);
    cmd.args(vm.args());
    Machine::start(cmd)
}

fn disk_copy(f: &Fixture, name: &str) -> PathBuf {
    let p = f.image.with_file_name(name);
    fs::copy(&f.image, &p).unwrap();
    p
}

#[test]
#[ignore = "slow: builds two systems, three qemu boots; cargo xtask test --full runs it"]
fn switch_reboot_rollback() {
    let f = fixture();
    let disk = disk_copy(f, "switch.img");
    let (t1, t2) = (&f.tops[0], &f.tops[1]);

    let mut m = boot(f, &disk);
    m.shell();
    assert_eq!(&m.current_system(), t1);
    let (out, code) = m.run(&format!("{B8G} system switch {t2}"), 120);
    assert_eq!(code, 0, "switch failed:\n{out}\n{}", m.log);
    assert!(out.contains("started: extra.service"), "{out}");
    let (out, _) = m.run(&format!("{B8GCTL} status extra.service"), 30);
    assert!(
        out.contains("Active: active ("),
        "extra.service is not running after the switch:\n{out}"
    );
    assert_eq!(&m.current_system(), t2);
    m.send("reboot");
    assert!(m.ended(120), "the VM did not reboot:\n{}", m.log);

    // The next boot: stage 1 takes generation 2 from the profile, on trial; b8g-init marks it good.
    let mut m = boot(f, &disk);
    m.expect("generation 2 is on trial", 240);
    m.expect("extra service started", 240);
    m.shell();
    m.expect("b8g: generation 2 is good", 60);
    assert_eq!(&m.current_system(), t2);
    let (out, code) = m.run(&format!("{B8G} system list-generations"), 60);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains(" 2 default booted") && l.contains("good")),
        "{out}"
    );

    // Rollback: generation 1 again, the service stopped, without a reboot.
    let (out, code) = m.run(&format!("{B8G} system rollback"), 120);
    assert_eq!(code, 0, "rollback failed:\n{out}\n{}", m.log);
    assert!(out.contains("stopped: extra.service"), "{out}");
    let (out, _) = m.run(&format!("{B8GCTL} status extra.service"), 30);
    assert!(
        !out.contains("Active: active ("),
        "extra.service still runs:\n{out}"
    );
    assert_eq!(&m.current_system(), t1);
    m.kill();
}

/// Boots until a shell comes up, restarting qemu whenever the guest reboots or panics.
fn boot_until_shell(f: &Fixture, disk: &Path, max_boots: u32, log: &mut String) -> Machine {
    for _ in 0..max_boots {
        let mut m = boot(f, disk);
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if m.wait_for("b8g: generation", 60).is_some() && m.log.contains(" is good") {
                m.shell();
                log.push_str(&m.log);
                return m;
            }
            if m.ended(1) || m.log.contains("rebooting so stage 1") {
                break;
            }
        }
        m.ended(120);
        log.push_str(&m.kill());
        log.push_str("\n==== reboot ====\n");
    }
    panic!("no good boot within {max_boots} boots:\n{log}");
}

#[test]
#[ignore = "slow: about ten qemu boots; cargo xtask test --full runs it"]
fn failed_generations_fall_back() {
    let f = fixture();
    let disk = disk_copy(f, "fallback.img");
    let mut log = String::new();
    // Generation 2 good first.
    let mut m = boot(f, &disk);
    m.shell();
    let (_, code) = m.run(&format!("{B8G} system boot {}", f.tops[1]), 120);
    assert_eq!(code, 0);
    m.send("reboot");
    m.ended(120);
    let mut m = boot_until_shell(f, &disk, 2, &mut log);
    assert_eq!(m.current_system(), f.tops[1]);

    for (top, why) in [
        (&f.tops[2], "broken.service failed"),
        (&f.tops[3], "never reached the default target"),
    ] {
        let (out, code) = m.run(&format!("{B8G} system boot {top}"), 120);
        assert_eq!(code, 0, "{out}");
        m.send("reboot");
        m.ended(120);
        drop(m);
        let mut boots = String::new();
        m = boot_until_shell(f, &disk, 5, &mut boots);
        assert_eq!(
            m.current_system(),
            f.tops[1],
            "did not come back to generation 2:\n{boots}"
        );
        assert!(
            boots.contains("was skipped at boot") && boots.contains(why),
            "reason not on the console:\n{boots}"
        );
        let (out, _) = m.run(&format!("{B8G} system list-generations"), 60);
        assert!(
            out.contains("skipped at the last boot") && out.contains(why),
            "{out}"
        );
        log.push_str(&boots);
    }
    m.kill();
}

#[test]
#[ignore = "slow: about twenty qemu boots; cargo xtask test --full runs it"]
fn power_loss_during_switch() {
    let f = fixture();
    let disk = disk_copy(f, "powerloss.img");
    let mut log = String::new();
    // A cheap pseudo-random sequence of kill moments (0..4 s after the command).
    let mut seed: u64 = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for round in 0..10 {
        let mut m = boot_until_shell(f, &disk, 4, &mut log);
        let cur = m.current_system();
        assert!(
            cur == f.tops[0] || cur == f.tops[1],
            "round {round}: booted {cur}:\n{log}"
        );
        let other = if cur == f.tops[0] {
            &f.tops[1]
        } else {
            &f.tops[0]
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis((seed >> 33) % 4000);
        m.send(&format!("{B8G} system switch {other}"));
        std::thread::sleep(delay);
        log.push_str(&m.kill());
        log.push_str(&format!(
            "\n==== power cut {delay:?} into the switch ====\n"
        ));
    }
    let mut m = boot_until_shell(f, &disk, 4, &mut log);
    let cur = m.current_system();
    assert!(cur == f.tops[0] || cur == f.tops[1], "booted {cur}:\n{log}");
    m.kill();
}
