//! Stage 1 end to end: the stage-1 script of the system modules (evaluated by
//! Nix from `recipes/`), built into an initramfs by `builtin:b8g-initrd` with the
//! host's Debian kernel modules, boots the stock kernel in qemu (TCG), loads
//! virtio and erofs, mounts an erofs root image under a tmpfs overlay and hands over to the
//! generation's `init`. Needs nix-bin, qemu-system-x86, linux-image-amd64,
//! busybox-static and erofs-utils (installed by `cargo xtask test`).

use b8g_builder::builtin::{BuiltinBuilder, BuiltinContext, StoreInputs};
use b8g_kernel_adapters::linux::{modules::ModuleIndex, qemu::Vm, stage1::InitrdBuilder};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn nix_eval_json(expr: &str) -> serde_json::Value {
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
    let out = Command::new("nix-instantiate")
        .args([
            "--eval", "--strict", "--json", "--store", "dummy://", "-E", expr,
        ])
        .current_dir(recipes)
        .output()
        .expect("cannot run nix-instantiate: install nix-bin (cargo xtask test does)");
    assert!(
        out.status.success(),
        "nix-instantiate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from nix-instantiate")
}

fn latest_modules_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/lib/modules")
        .expect("/lib/modules: install linux-image-amd64")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("kernel").is_dir())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("kernel modules: install linux-image-amd64")
}

#[test]
fn stage1_mounts_erofs_root_and_switches_to_the_generation() {
    let sys = nix_eval_json(
        r#"let
             fake = import ./tests/fake-pkgs.nix;
             sys = import ./eval-config.nix { pkgs = fake; modules = [{
               boot.kernel.package = fake.linux;
               fileSystems."/" = { device = "/dev/vda"; fsType = "erofs"; };
             }]; };
           in { stage1 = sys.config.system.build.stage1; modules = sys.config.system.build.initrd.modules; }"#,
    );
    let stage1 = sys["stage1"].as_str().unwrap();
    let modules = sys["modules"].as_str().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A kernel "package" and a busybox "package" laid out as the recipes expect.
    let modules_dir = latest_modules_dir();
    let version = modules_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    // Builtins read only their input closure, from a store: the modules stage 1
    // loads (copied, a symlink to the host's would be refused) and busybox.
    const KERNEL: &str = "11111111111111111111111111111111-kernel";
    const BUSYBOX: &str = "22222222222222222222222222222222-busybox";
    let store = d.join("root/b8g/store");
    let version_dir = store.join(KERNEL).join("lib/modules").join(&version);
    let wanted: Vec<&str> = modules.split_whitespace().collect();
    for m in ModuleIndex::scan(&modules_dir)
        .unwrap()
        .load_order(&wanted)
        .unwrap()
    {
        let to = version_dir.join(m.strip_prefix(&modules_dir).unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&m, &to).unwrap();
    }
    let _ = fs::copy(
        modules_dir.join("modules.builtin"),
        version_dir.join("modules.builtin"),
    );
    fs::create_dir_all(store.join(BUSYBOX).join("bin")).unwrap();
    fs::copy("/bin/busybox", store.join(BUSYBOX).join("bin/busybox")).unwrap();
    let inputs = StoreInputs::new(
        &store,
        "/b8g/store",
        [KERNEL.to_string(), BUSYBOX.to_string()],
    )
    .unwrap();

    let env: BTreeMap<String, String> = [
        ("kernel", format!("/b8g/store/{KERNEL}")),
        ("busybox", format!("/b8g/store/{BUSYBOX}")),
        ("modules", modules.to_string()),
        ("init", stage1.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let outputs: BTreeMap<String, PathBuf> = [("out".to_string(), d.join("initrd-out"))].into();
    let cx = BuiltinContext {
        env: &env,
        outputs: &outputs,
        inputs: &inputs,
    };
    InitrdBuilder.build(&cx).unwrap();
    let initrd = d.join("initrd-out/initrd");

    // Same inputs, same bytes.
    let outputs2: BTreeMap<String, PathBuf> = [("out".to_string(), d.join("initrd-out2"))].into();
    InitrdBuilder
        .build(&BuiltinContext {
            env: &env,
            outputs: &outputs2,
            inputs: &inputs,
        })
        .unwrap();
    assert_eq!(
        fs::read(&initrd).unwrap(),
        fs::read(d.join("initrd-out2/initrd")).unwrap()
    );

    // The root file system: a generation whose init reports and powers off.
    let system = "/b8g/store/00000000000000000000000000000000-b8g-system-test";
    let root = d.join("root");
    let sysdir = root.join(system.trim_start_matches('/'));
    fs::create_dir_all(&sysdir).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("dev")).unwrap();
    fs::create_dir_all(root.join("proc")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    fs::write(
        sysdir.join("init"),
        "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\necho \"b8g-test: stage 2 reached, root is $(/bin/busybox grep ' / ' /proc/mounts | /bin/busybox cut -d' ' -f3)\"\n/bin/busybox poweroff -f\n",
    )
    .unwrap();
    fs::set_permissions(sysdir.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
    let image = d.join("root.img");
    let st = Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&image)
        .arg(&root)
        .status()
        .expect("cannot run mkfs.erofs: install erofs-utils (cargo xtask test does)");
    assert!(st.success());

    let mut vm = Vm::new(format!("/boot/vmlinuz-{version}"));
    vm.initrd = Some(initrd);
    vm.cmdline.push(format!("b8g.system={system}"));
    vm.extra.extend([
        "-drive".into(),
        format!("file={},if=virtio,format=raw,readonly=on", image.display()),
    ]);
    let r = vm
        .run(Duration::from_secs(180), Some("b8g-test: stage 2 reached"))
        .unwrap();
    assert!(!r.timed_out, "VM did not finish:\n{}", r.output);
    assert!(
        r.output
            .contains("b8g-test: stage 2 reached, root is overlay"),
        "stage 2 not reached:\n{}",
        r.output
    );
    eprintln!("stage 2 reached after {:?}", r.marker_at.unwrap());
}
