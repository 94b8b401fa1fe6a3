//! Attacks on the builtin builders of this crate, carried out for real through
//! `realise` as a derivation would: each must fail with a clear error, leave
//! everything outside the store unchanged and register nothing.
//!
//! The store lives under a temporary root (`<root>/b8g/store`); "host files"
//! are both files under that root but outside the store (what `/etc/shadow`
//! is to a store at `/b8g/store`) and files in an unrelated temporary directory.

mod builtin_support;

use b8g_builder::builtin::Builtins;
use builtin_support::{Bench, Snapshot};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// A root-only "secret" at `path`.
fn secret(path: &Path) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, "root-only secret\n").expect("write secret");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A .deb whose data.tar holds `entries` (appended in order).
fn deb_with(path: &Path, build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut tarball = tar::Builder::new(Vec::new());
    build(&mut tarball);
    let data = tarball.into_inner().expect("tar");
    let mut b = ar::Builder::new(fs::File::create(path).expect("create deb"));
    b.append(
        &ar::Header::new(b"debian-binary".to_vec(), 4),
        &b"2.0\n"[..],
    )
    .expect("ar");
    b.append(
        &ar::Header::new(b"data.tar".to_vec(), data.len() as u64),
        &data[..],
    )
    .expect("ar");
}

fn plain_deb(path: &Path) {
    deb_with(path, |t| {
        let mut h = tar::Header::new_gnu();
        h.set_size(7);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "./etc/secret", &b"leaked\n"[..])
            .expect("tar");
    });
}

#[test]
fn tree_symlink_then_entry_beneath_it_writes_nothing_outside() {
    let mut b = Bench::new();
    let outside = b.outside.path().to_path_buf();
    fs::write(outside.join("x"), "original").expect("write");
    let before = Snapshot::of(&outside);
    for (n, victim) in ["a/x", "a/new/y", "a/z"].iter().enumerate() {
        let tree = format!(
            r#"{{"a":{{"type":"symlink","target":"{}"}},"{victim}":{{"type":"file","text":"pwned"}}}}"#,
            outside.display()
        );
        let (d, drv) = b.builtin_drv(
            &format!("evil-tree-{n}"),
            "b8g-tree",
            &[("tree", tree)],
            &[],
        );
        b.expect_refused(
            &d,
            &drv,
            &Builtins::standard(),
            "write only beneath their output",
        );
        assert_eq!(Snapshot::of(&outside), before, "{victim} changed the host");
    }
    // Directory entries beneath the link fail the same way.
    let tree = format!(
        r#"{{"a":{{"type":"symlink","target":"{}"}},"a/d":{{"type":"directory"}}}}"#,
        outside.display()
    );
    let (d, drv) = b.builtin_drv("evil-tree-dir", "b8g-tree", &[("tree", tree)], &[]);
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "write only beneath their output",
    );
    assert_eq!(Snapshot::of(&outside), before);
}

#[test]
fn dot_dot_after_the_hash_part_is_refused() {
    let mut b = Bench::new();
    secret(&b.root.path().join("secret.deb"));
    plain_deb(&b.root.path().join("secret.deb"));
    let input = b.add("input", |d| plain_deb(&d.join("pkg.deb")));
    let root_before = Snapshot::of(&b.root.path().join("secret.deb"));
    let src = format!("{}/../../../secret.deb", b.print(&input));
    let (d, drv) = b.builtin_drv("evil-dotdot", "b8g-unpack-deb", &[("src", src)], &[&input]);
    b.expect_refused(&d, &drv, &Builtins::standard(), "'..' component");
    // The same through a union of b8g-tree.
    let tree = format!(
        r#"{{"":{{"type":"union","sources":["{}/../.."]}}}}"#,
        b.print(&input)
    );
    let (d, drv) = b.builtin_drv(
        "evil-dotdot-union",
        "b8g-tree",
        &[("tree", tree)],
        &[&input],
    );
    b.expect_refused(&d, &drv, &Builtins::standard(), "'..' component");
    assert_eq!(Snapshot::of(&b.root.path().join("secret.deb")), root_before);
}

#[test]
fn absolute_symlink_in_an_input_to_a_host_file_is_refused() {
    let mut b = Bench::new();
    // A link to a host file outside the store's root: followed on the host, it
    // would be unpacked; resolved inside the store's root, it names nothing.
    let host = b.outside.path().join("host.deb");
    plain_deb(&host);
    let input2 = b.add("input2", |d| {
        symlink(&host, d.join("pkg.deb")).expect("link")
    });
    let src = format!("{}/pkg.deb", b.print(&input2));
    let (d, drv) = b.builtin_drv(
        "evil-abs-link2",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&input2],
    );
    b.expect_refused(&d, &drv, &Builtins::standard(), "No such file");
    // Under the store's root, outside the store: what /secret.deb is to /b8g/store.
    plain_deb(&b.root.path().join("secret.deb"));
    let input = b.add("input", |d| {
        symlink("/secret.deb", d.join("pkg.deb")).expect("link")
    });
    let src = format!("{}/pkg.deb", b.print(&input));
    let (d, drv) = b.builtin_drv(
        "evil-abs-link",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&input],
    );
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
}

#[test]
fn relative_symlink_in_an_input_escaping_the_store_is_refused() {
    let mut b = Bench::new();
    // Enough `..` to climb out of the store's root to a real host file
    // (`<root>/b8g/store/<hash>-input2/debs` is five levels below /tmp).
    let host = b.outside.path().join("host.deb");
    plain_deb(&host);
    let up = format!(
        "../../../../../{}/host.deb",
        b.outside
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
    );
    assert_eq!(b.root.path().parent(), b.outside.path().parent());
    let input2 = b.add("input2", |d| {
        fs::create_dir(d.join("debs")).expect("mkdir");
        symlink(&up, d.join("debs/pkg.deb")).expect("link");
    });
    let src = format!("{}/debs/pkg.deb", b.print(&input2));
    let (d, drv) = b.builtin_drv(
        "evil-rel-link2",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&input2],
    );
    b.expect_refused(&d, &drv, &Builtins::standard(), "No such file");
    // `<root>/tmp/secret.deb` is what /tmp/secret.deb is to a store at /b8g/store.
    plain_deb(&b.root.path().join("tmp/secret.deb"));
    let input = b.add("input", |d| {
        fs::create_dir(d.join("debs")).expect("mkdir");
        symlink(
            "../../../../../../../tmp/secret.deb",
            d.join("debs/pkg.deb"),
        )
        .expect("link");
    });
    let src = format!("{}/debs/pkg.deb", b.print(&input));
    let (d, drv) = b.builtin_drv(
        "evil-rel-link",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&input],
    );
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
}

#[test]
fn union_of_a_host_directory_is_refused() {
    let mut b = Bench::new();
    let host = b.outside.path().join("etc");
    fs::create_dir(&host).expect("mkdir");
    secret(&host.join("shadow"));
    let before = Snapshot::of(b.outside.path());
    for src in [host.display().to_string(), "/etc".to_string()] {
        let tree = format!(r#"{{"":{{"type":"union","sources":["{src}"]}}}}"#);
        let (d, drv) = b.builtin_drv("evil-union", "b8g-tree", &[("tree", tree)], &[]);
        b.expect_refused(
            &d,
            &drv,
            &Builtins::standard(),
            "is not a path inside the store",
        );
    }
    // A store input that is a symlink to a host directory is no way around it.
    fs::create_dir_all(b.root.path().join("etc")).expect("mkdir");
    secret(&b.root.path().join("etc/shadow"));
    let input = b.add("input", |d| symlink("/etc", d.join("etc")).expect("link"));
    let tree = format!(
        r#"{{"":{{"type":"union","sources":["{}/etc"]}}}}"#,
        b.print(&input)
    );
    let (d, drv) = b.builtin_drv("evil-union-link", "b8g-tree", &[("tree", tree)], &[&input]);
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
    assert_eq!(Snapshot::of(b.outside.path()), before);
}

#[test]
fn valid_store_path_outside_the_input_closure_is_refused() {
    let mut b = Bench::new();
    let other = b.add("someone-elses-secret", |d| plain_deb(&d.join("pkg.deb")));
    let mine = b.add("mine", |d| fs::write(d.join("x"), "x").expect("write"));
    let src = format!("{}/pkg.deb", b.print(&other));
    let (d, drv) = b.builtin_drv("evil-other", "b8g-unpack-deb", &[("src", src)], &[&mine]);
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
    let tree = format!(
        r#"{{"":{{"type":"union","sources":["{}"]}}}}"#,
        b.print(&other)
    );
    let (d, drv) = b.builtin_drv("evil-other-union", "b8g-tree", &[("tree", tree)], &[&mine]);
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
    // An input whose symlink leads to that other path is refused as well.
    let via = b.add("via", |d| {
        symlink(format!("{}/pkg.deb", b.print(&other)), d.join("pkg.deb")).expect("link")
    });
    let src = format!("{}/pkg.deb", b.print(&via));
    let (d, drv) = b.builtin_drv(
        "evil-other-link",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&via],
    );
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "not in the derivation's input closure",
    );
}

#[test]
fn hostile_deb_symlink_then_file_beneath_it_writes_nothing_outside() {
    let mut b = Bench::new();
    let outside = b.outside.path().to_path_buf();
    fs::write(outside.join("file"), "original").expect("write");
    let before = Snapshot::of(&outside);
    let target = outside.display().to_string();
    let input = b.add("hostile-deb", |d| {
        deb_with(&d.join("pkg.deb"), |t| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            t.append_link(&mut h, "link", &target).expect("tar link");
            for name in ["link/file", "link/new"] {
                let mut h = tar::Header::new_gnu();
                h.set_size(5);
                h.set_mode(0o644);
                h.set_cksum();
                t.append_data(&mut h, name, &b"pwned"[..]).expect("tar");
            }
        })
    });
    let src = format!("{}/pkg.deb", b.print(&input));
    let (d, drv) = b.builtin_drv("evil-deb", "b8g-unpack-deb", &[("src", src)], &[&input]);
    b.expect_refused(
        &d,
        &drv,
        &Builtins::standard(),
        "write only beneath their output",
    );
    assert_eq!(Snapshot::of(&outside), before);
    // A symlink entry, then a file of the same name: not written through the link.
    let victim = outside.join("file").display().to_string();
    let input = b.add("hostile-deb-over", |d| {
        deb_with(&d.join("pkg.deb"), |t| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            t.append_link(&mut h, "f", &victim).expect("tar link");
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, "f", &b"pwned"[..]).expect("tar");
        })
    });
    let src = format!("{}/pkg.deb", b.print(&input));
    let (d, drv) = b.builtin_drv(
        "evil-deb-over",
        "b8g-unpack-deb",
        &[("src", src)],
        &[&input],
    );
    b.expect_refused(&d, &drv, &Builtins::standard(), "File exists");
    assert_eq!(Snapshot::of(&outside), before);
    // A hard link to a host file is refused too (it must name an earlier entry).
    let input = b.add("hostile-deb-hardlink", |d| {
        deb_with(&d.join("pkg.deb"), |t| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            h.set_mode(0o644);
            t.append_link(&mut h, "shadow", "../../../../../etc/shadow")
                .expect("tar link");
        })
    });
    let src = format!("{}/pkg.deb", b.print(&input));
    let (d, drv) = b.builtin_drv("evil-deb-hl", "b8g-unpack-deb", &[("src", src)], &[&input]);
    b.expect_refused(&d, &drv, &Builtins::standard(), "escapes");
}

#[test]
fn builtins_still_build_from_their_inputs() {
    let mut b = Bench::new();
    let pkg = b.add("pkg", |d| {
        plain_deb(&d.join("pkg.deb"));
        fs::create_dir(d.join("bin")).expect("mkdir");
        fs::write(d.join("bin/tool"), "tool").expect("write");
    });
    // An absolute in-store symlink to an input resolves (as in the sandbox).
    let alias = b.add("alias", |d| {
        symlink(format!("{}/pkg.deb", b.print(&pkg)), d.join("pkg.deb")).expect("link")
    });
    let src = format!("{}/pkg.deb", b.print(&alias));
    let (d, drv) = b.builtin_drv("unpack", "b8g-unpack-deb", &[("src", src)], &[&alias, &pkg]);
    b.realise(&d, &Builtins::standard()).expect("unpack builds");
    let out = b.store.parse_path(&drv.outputs["out"].path).expect("out");
    assert_eq!(
        fs::read_to_string(b.store.real_path(&out).join("etc/secret")).expect("read"),
        "leaked\n"
    );
    let tree = format!(
        r#"{{"":{{"type":"union","sources":["{}"]}}}}"#,
        b.print(&pkg)
    );
    let (d, drv) = b.builtin_drv("env", "b8g-tree", &[("tree", tree)], &[&pkg]);
    b.realise(&d, &Builtins::standard()).expect("union builds");
    let out = b.store.parse_path(&drv.outputs["out"].path).expect("out");
    assert_eq!(
        fs::read_link(b.store.real_path(&out).join("bin/tool")).expect("link"),
        Path::new(&format!("{}/bin/tool", b.print(&pkg)))
    );
}

/// Records the mode of the directory its output is created in.
struct Probe(std::sync::Arc<std::sync::Mutex<Option<u32>>>);

impl b8g_builder::builtin::BuiltinBuilder for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn build(
        &self,
        cx: &b8g_builder::builtin::BuiltinContext<'_>,
    ) -> Result<(), b8g_builder::builtin::BuiltinError> {
        let staging = cx.outputs["out"].parent().expect("staging").to_path_buf();
        let mode = fs::metadata(&staging).expect("stat").permissions().mode();
        *self.0.lock().expect("lock") = Some(mode & 0o7777);
        cx.out()?.write_file("", b"probe", 0o444)
    }
}

#[test]
fn builtin_staging_directory_is_private() {
    let mut b = Bench::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut builtins = Builtins::standard();
    builtins.register(Box::new(Probe(seen.clone())));
    let (d, _) = b.builtin_drv("probe", "probe", &[], &[]);
    b.realise(&d, &builtins).expect("probe builds");
    assert_eq!(*seen.lock().expect("lock"), Some(0o700));
}
