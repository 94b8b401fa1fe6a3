//! Boots Debian's stock kernel with a busybox initramfs built by us, under qemu (TCG).
//! Needs `qemu-system-x86`, `linux-image-amd64` and `busybox-static` (installed by `cargo xtask test`).

use b8g_kernel_adapters::linux::{initramfs::Initramfs, qemu::Vm};
use std::path::PathBuf;
use std::time::Duration;

fn stock_kernel() -> PathBuf {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .expect("/boot is readable: install linux-image-amd64 (cargo xtask test does)")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    kernels
        .pop()
        .expect("no /boot/vmlinuz-*: install linux-image-amd64 (cargo xtask test does)")
}

#[test]
fn busybox_initramfs_boots_and_powers_off() {
    let busybox = PathBuf::from("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox missing: install busybox-static (cargo xtask test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut img = Initramfs::new();
    img.host_file("bin/busybox", &busybox).unwrap();
    img.symlink("bin/sh", "busybox").unwrap();
    img.char_dev("dev/console", 0o600, 5, 1).unwrap();
    img.dir("proc", 0o755).unwrap();
    img.file(
        "init",
        0o755,
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\necho \"b8g-test: up, cmdline=$(/bin/busybox cat /proc/cmdline)\"\n/bin/busybox poweroff -f\n",
    )
    .unwrap();
    let initrd = dir.path().join("initrd");
    img.write_to_path(&initrd).unwrap();

    let mut vm = Vm::new(stock_kernel());
    vm.initrd = Some(initrd);
    vm.cmdline.push("quiet".into());
    vm.cmdline.push("b8g.test=1".into());
    let r = vm
        .run(Duration::from_secs(120), Some("b8g-test: up"))
        .unwrap();
    assert!(
        !r.timed_out,
        "VM did not power off within the timeout:\n{}",
        r.output
    );
    assert!(
        r.marker_at.is_some(),
        "no marker on the console:\n{}",
        r.output
    );
    assert!(
        r.output.contains("b8g.test=1"),
        "command line not passed:\n{}",
        r.output
    );
    eprintln!(
        "booted to the marker in {:?}, VM exited after {:?}",
        r.marker_at.unwrap(),
        r.elapsed
    );
}
