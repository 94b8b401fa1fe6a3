//! Attacks on the builtin builders of the kernel adapters (`b8g-initrd`,
//! `b8g-unikernel`, `b8g-root-image`), carried out for real through `realise`
//! as a derivation would: each must fail with a clear error, read nothing
//! outside the input closure, and register nothing.

#[path = "../../builder/tests/builtin_support/mod.rs"]
mod builtin_support;

use b8g_kernel_adapters::builtins;
use builtin_support::Bench;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

const NOT_IN_CLOSURE: &str = "not in the derivation's input closure";

fn secret(path: &Path) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, "root-only secret\n").expect("write secret");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A kernel package with an empty `lib/modules/<version>` and a `vmlinuz`.
fn kernel(b: &Bench) -> b8g_store::format::store_path::StorePath {
    b.add("kernel", |d| {
        fs::create_dir_all(d.join("lib/modules/6.1.0-test")).expect("mkdir");
        fs::write(d.join("vmlinuz"), "kernel image").expect("write");
    })
}

fn initrd_attrs(kernel: String, busybox: String, modules: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kernel", kernel),
        ("busybox", busybox),
        ("modules", modules.to_string()),
        ("init", "#!/bin/sh\n".to_string()),
    ]
}

#[test]
fn initrd_busybox_relative_symlink_out_of_the_store_is_refused() {
    let mut b = Bench::new();
    let k = kernel(&b);
    // Enough `..` to climb out of the store's root to a real host file
    // (`<root>/b8g/store/<hash>-busybox2/bin` is five levels below /tmp).
    secret(&b.outside.path().join("secret"));
    let up = format!(
        "../../../../../{}/secret",
        b.outside
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
    );
    assert_eq!(b.root.path().parent(), b.outside.path().parent());
    let bb2 = b.add("busybox2", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        symlink(&up, d.join("bin/busybox")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb2), "");
    let (d, drv) = b.builtin_drv("evil-initrd-rel2", "b8g-initrd", &attrs, &[&k, &bb2]);
    b.expect_refused(&d, &drv, &builtins(), "No such file");
    // What /tmp/secret is to a store at /b8g/store.
    secret(&b.root.path().join("tmp/secret"));
    let bb = b.add("busybox", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        symlink("../../../../tmp/secret", d.join("bin/busybox")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb), "");
    let (d, drv) = b.builtin_drv("evil-initrd-rel", "b8g-initrd", &attrs, &[&k, &bb]);
    b.expect_refused(&d, &drv, &builtins(), NOT_IN_CLOSURE);
}

#[test]
fn initrd_busybox_absolute_symlink_to_a_host_file_is_refused() {
    let mut b = Bench::new();
    let k = kernel(&b);
    // A link to a real host file outside the store's root names nothing there.
    let host = b.outside.path().join("secret");
    secret(&host);
    let bb2 = b.add("busybox2", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        symlink(&host, d.join("bin/busybox")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb2), "");
    let (d, drv) = b.builtin_drv("evil-initrd-abs2", "b8g-initrd", &attrs, &[&k, &bb2]);
    b.expect_refused(&d, &drv, &builtins(), "No such file");
    // What /secret is to a store at /b8g/store: resolved there, out of the closure.
    secret(&b.root.path().join("secret"));
    let bb = b.add("busybox", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        symlink("/secret", d.join("bin/busybox")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb), "");
    let (d, drv) = b.builtin_drv("evil-initrd-abs", "b8g-initrd", &attrs, &[&k, &bb]);
    b.expect_refused(&d, &drv, &builtins(), NOT_IN_CLOSURE);
}

#[test]
fn initrd_dot_dot_after_the_hash_part_is_refused() {
    let mut b = Bench::new();
    fs::create_dir_all(b.root.path().join("bin")).expect("mkdir");
    secret(&b.root.path().join("bin/busybox"));
    let k = kernel(&b);
    let bb = b.add("busybox", |d| fs::create_dir(d.join("bin")).expect("mkdir"));
    // `<bb>/../../../bin/busybox` names `<root>/bin/busybox`.
    let attrs = initrd_attrs(b.print(&k), format!("{}/../../..", b.print(&bb)), "");
    let (d, drv) = b.builtin_drv("evil-initrd-dotdot", "b8g-initrd", &attrs, &[&k, &bb]);
    b.expect_refused(&d, &drv, &builtins(), "'..' component");
}

#[test]
fn initrd_input_outside_the_closure_is_refused() {
    let mut b = Bench::new();
    let k = kernel(&b);
    let other = b.add("busybox", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        fs::write(d.join("bin/busybox"), "someone else's").expect("write");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&other), "");
    let (d, drv) = b.builtin_drv("evil-initrd-other", "b8g-initrd", &attrs, &[&k]);
    b.expect_refused(&d, &drv, &builtins(), NOT_IN_CLOSURE);
}

#[test]
fn initrd_kernel_modules_linked_to_the_host_are_not_read() {
    let mut b = Bench::new();
    secret(&b.root.path().join("secret.ko"));
    fs::create_dir_all(b.root.path().join("lib/modules/6.1.0-host")).expect("mkdir");
    let bb = b.add("busybox", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        fs::write(d.join("bin/busybox"), "busybox").expect("write");
    });
    // A module that is a symlink to a host file: never indexed, so never read.
    let k = b.add("kernel", |d| {
        fs::create_dir_all(d.join("lib/modules/6.1.0-test/kernel")).expect("mkdir");
        symlink(
            "/secret.ko",
            d.join("lib/modules/6.1.0-test/kernel/evil.ko"),
        )
        .expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb), "evil");
    let (d, drv) = b.builtin_drv("evil-initrd-ko", "b8g-initrd", &attrs, &[&k, &bb]);
    b.expect_refused(&d, &drv, &builtins(), "kernel module \"evil\" not found");
    // A version directory that is a symlink to the host's modules is not one.
    let k2 = b.add("kernel2", |d| {
        fs::create_dir_all(d.join("lib/modules")).expect("mkdir");
        symlink("/lib/modules/6.1.0-host", d.join("lib/modules/6.1.0-host")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k2), b.print(&bb), "");
    let (d, drv) = b.builtin_drv("evil-initrd-moddir", "b8g-initrd", &attrs, &[&k2, &bb]);
    b.expect_refused(&d, &drv, &builtins(), "holds 0 kernel versions");
}

#[test]
fn initrd_still_builds_from_its_inputs() {
    let mut b = Bench::new();
    let k = kernel(&b);
    let real = b.add("busybox-real", |d| {
        fs::create_dir(d.join("bin")).expect("mkdir");
        fs::write(d.join("bin/busybox"), "busybox").expect("write");
    });
    // An absolute in-store link to another input resolves as in the sandbox.
    let bb = b.add("busybox", |d| {
        symlink(b.print(&real), d.join("pkg")).expect("link");
        fs::create_dir(d.join("bin")).expect("mkdir");
        symlink("../pkg/bin/busybox", d.join("bin/busybox")).expect("link");
    });
    let attrs = initrd_attrs(b.print(&k), b.print(&bb), "");
    let (d, drv) = b.builtin_drv("initrd", "b8g-initrd", &attrs, &[&k, &bb, &real]);
    b.realise(&d, &builtins()).expect("initrd builds");
    let out = b.store.parse_path(&drv.outputs["out"].path).expect("out");
    let initrd = fs::read(b.store.real_path(&out).join("initrd")).expect("initrd");
    assert!(initrd.windows(7).any(|w| w == b"busybox"));
}

fn unikernel_attrs(
    kernel: String,
    shim: String,
    roots: String,
    layout: String,
) -> Vec<(&'static str, String)> {
    vec![
        ("kernel", kernel),
        ("shim", shim),
        ("storeDir", "/b8g/store".to_string()),
        ("roots", roots),
        ("modules", String::new()),
        ("config", String::new()),
        ("layout", layout),
        ("manifest", String::new()),
    ]
}

#[test]
fn unikernel_reads_only_its_input_closure() {
    let mut b = Bench::new();
    secret(&b.root.path().join("etc/shadow"));
    let k = kernel(&b);
    let shim = b.add("shim", |d| {
        fs::write(d.join("shim"), "shim").expect("write")
    });
    let other = b.add("other", |d| {
        fs::write(d.join("data"), "other").expect("write")
    });
    let shim_path = format!("{}/shim", b.print(&shim));
    let cases = [
        (
            "evil-uk-copy-host",
            "copy\t/x\t/etc/shadow".to_string(),
            String::new(),
            "is not a path inside the store",
        ),
        (
            "evil-uk-copy-other",
            format!("copy\t/x\t{}/data", b.print(&other)),
            String::new(),
            NOT_IN_CLOSURE,
        ),
        (
            "evil-uk-copy-dotdot",
            format!("copy\t/x\t{}/../../../etc/shadow", b.print(&shim)),
            String::new(),
            "'..' component",
        ),
        (
            "evil-uk-root-other",
            String::new(),
            b.print(&other),
            NOT_IN_CLOSURE,
        ),
    ];
    for (name, layout, roots, why) in cases {
        let attrs = unikernel_attrs(b.print(&k), shim_path.clone(), roots, layout);
        let (d, drv) = b.builtin_drv(name, "b8g-unikernel", &attrs, &[&k, &shim]);
        b.expect_refused(&d, &drv, &builtins(), why);
    }
    // With only its inputs named, it builds.
    let attrs = unikernel_attrs(b.print(&k), shim_path, b.print(&shim), String::new());
    let (d, _) = b.builtin_drv("uk", "b8g-unikernel", &attrs, &[&k, &shim]);
    b.realise(&d, &builtins()).expect("unikernel builds");
}

#[test]
fn root_image_of_a_path_outside_the_closure_is_refused() {
    let mut b = Bench::new();
    let other = b.add("b8g-system-other", |d| {
        fs::write(d.join("init"), "x").expect("write")
    });
    let mine = b.add("mine", |d| fs::write(d.join("x"), "x").expect("write"));
    let attrs = vec![
        ("toplevel", b.print(&other)),
        ("format", "erofs".to_string()),
    ];
    let (d, drv) = b.builtin_drv("evil-image", "b8g-root-image", &attrs, &[&mine]);
    b.expect_refused(&d, &drv, &builtins(), NOT_IN_CLOSURE);
    let attrs = vec![
        ("toplevel", "/etc".to_string()),
        ("format", "erofs".to_string()),
    ];
    let (d, drv) = b.builtin_drv("evil-image-host", "b8g-root-image", &attrs, &[&mine]);
    b.expect_refused(&d, &drv, &builtins(), "is not a path inside the store");
}
