//! Generations without a VM: profiles and boot entries, atomic switching,
//! rollback, delete-generations followed by GC, `b8g system diff`, and
//! snapshot export/import with tamper refusal — all on chroot stores
//! (`--root`) with small hand-made "systems" whose closures have real
//! references. The qemu journeys are in `generations_vm.rs`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::StorePath;
use b8g_store::local::{LocalStore, StoreConfig};
use b8g_system::generations::Generations;

fn store_at(root: &Path) -> LocalStore {
    LocalStore::open(&StoreConfig {
        root: Some(root.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

/// A toplevel-shaped path: `init` links into `b8g`, `sw-N` links to each component.
fn fake_system(store: &LocalStore, tag: u8, b8g: &StorePath, comps: &[&StorePath]) -> StorePath {
    let path = StorePath::from_parts([tag; 20], &format!("b8g-system-test{tag}")).unwrap();
    let real = store.real_path(&path);
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(
        format!("{}/bin/b8g-init", store.print_path(b8g)),
        real.join("init"),
    )
    .unwrap();
    for (i, c) in comps.iter().enumerate() {
        std::os::unix::fs::symlink(store.print_path(c), real.join(format!("sw-{i}"))).unwrap();
    }
    fs::write(real.join("boot-tries"), "2\n").unwrap();
    fs::write(real.join("kernel-params"), "b8g.system=@toplevel@ quiet\n").unwrap();
    let mut candidates: BTreeSet<StorePath> = comps.iter().map(|c| (*c).clone()).collect();
    candidates.insert(b8g.clone());
    store
        .register_built_paths(std::slice::from_ref(&path), &candidates, None)
        .unwrap();
    path
}

fn b8g(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b8g"))
        .arg("-q")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    top1: StorePath,
    top2: StorePath,
    hello1: StorePath,
    hello2: StorePath,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let store = store_at(&root);
    let b8g = store.add_text("b8g-init", b"init", &[]).unwrap();
    let busybox = store.add_text("busybox-1.36.1", b"busybox", &[]).unwrap();
    let hello1 = store.add_text("hello-1.0", b"hello one", &[]).unwrap();
    let hello2 = store
        .add_text("hello-2.0", b"hello two, longer", &[])
        .unwrap();
    let extra = store
        .add_text("unit-extra.service", b"[Service]", &[])
        .unwrap();
    // A component without a version that changes between the generations.
    let units1 = store.add_text("b8g-units", &[b'u'; 9500], &[]).unwrap();
    let units2 = store.add_text("b8g-units", &[b'u'; 10000], &[]).unwrap();
    let top1 = fake_system(&store, 1, &b8g, &[&busybox, &hello1, &units1]);
    let top2 = fake_system(&store, 2, &b8g, &[&busybox, &hello2, &extra, &units2]);
    Fixture {
        _dir: dir,
        root,
        top1,
        top2,
        hello1,
        hello2,
    }
}

#[test]
fn profile_switch_rollback_delete_and_gc() {
    let f = fixture();
    let store = store_at(&f.root);
    let gens = Generations::new(Some(&f.root), None);
    let p1 = store.print_path(&f.top1);
    let p2 = store.print_path(&f.top2);

    // `boot` twice: two generations, the profile on the second; the entries and extlinux follow.
    ok(b8g(&f.root, &["system", "boot", &p1]));
    ok(b8g(&f.root, &["system", "boot", &p2]));
    assert_eq!(gens.profile.current().unwrap(), Some(2));
    assert_eq!(
        fs::read_link(f.root.join("b8g/var/profiles/system")).unwrap(),
        Path::new("system-2-link")
    );
    assert_eq!(
        fs::read_link(f.root.join("b8g/var/profiles/system-1-link")).unwrap(),
        Path::new(&p1)
    );
    let e2 = fs::read_to_string(f.root.join("b8g/var/boot/entries/system-2.conf")).unwrap();
    assert_eq!(
        e2,
        format!("generation=2\ntoplevel={p2}\ntries=2\ngood=0\nreason=\n")
    );
    let ext = fs::read_to_string(f.root.join("b8g/var/boot/extlinux/extlinux.conf")).unwrap();
    assert!(ext.contains("DEFAULT b8g-2"), "{ext}");
    assert!(
        ext.find("LABEL b8g-2").unwrap() < ext.find("LABEL b8g-1").unwrap(),
        "newest first: {ext}"
    );
    assert!(
        ext.contains(&format!("APPEND b8g.system={p2} quiet")),
        "{ext}"
    );
    // The same toplevel again is the same generation.
    ok(b8g(&f.root, &["system", "boot", &p2]));
    assert_eq!(gens.profile.generations().unwrap().len(), 2);

    // A crash between making a new link and renaming it leaves a temporary link: ignored.
    std::os::unix::fs::symlink(&p1, f.root.join("b8g/var/profiles/.system-3-link.tmp-1")).unwrap();
    let list: serde_json::Value =
        serde_json::from_str(&ok(b8g(&f.root, &["system", "list-generations", "--json"]))).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["number"], 2);
    assert_eq!(list[1]["default"], true);
    assert_eq!(list[1]["entry"]["tries"], 2);

    // diff names components without hashes, with versions and sizes, as
    // `nix store diff-closures` prints them.
    let d = ok(b8g(&f.root, &["system", "diff", "1", "2"]));
    let lines: Vec<&str> = d.lines().collect();
    assert!(lines.contains(&"unit-extra.service: ∅ → ε"), "{d}");
    assert!(lines.contains(&"hello: 1.0 → 2.0"), "{d}");
    // Regression: a changed component without versions printed `~ b8g-units - -> - (…)`.
    assert!(lines.contains(&"b8g-units: +0.5 KiB"), "{d}");
    assert!(
        !d.contains("busybox"),
        "unchanged components are not listed: {d}"
    );

    // Rollback (no running init here): the profile names generation 1 again.
    let o = b8g(&f.root, &["system", "rollback", "--no-activate"]);
    ok(o);
    assert_eq!(gens.profile.current().unwrap(), Some(1));
    ok(b8g(&f.root, &["system", "boot", "2"]));
    assert_eq!(gens.profile.current().unwrap(), Some(2));

    // The booted generation (stage 1's record) and the default one are never deleted.
    fs::write(
        f.root.join("b8g/var/boot/last-boot"),
        "generation=1\nskipped=\nskipped_reason=\n",
    )
    .unwrap();
    ok(b8g(&f.root, &["system", "delete-generations", "1", "2"]));
    assert_eq!(gens.profile.generations().unwrap().len(), 2);
    fs::write(
        f.root.join("b8g/var/boot/last-boot"),
        "generation=2\nskipped=\nskipped_reason=\n",
    )
    .unwrap();
    ok(b8g(&f.root, &["system", "delete-generations", "+1"]));
    let left: Vec<u32> = gens
        .profile
        .generations()
        .unwrap()
        .iter()
        .map(|g| g.number)
        .collect();
    assert_eq!(left, [2]);
    assert!(!f.root.join("b8g/var/boot/entries/system-1.conf").exists());
    assert!(
        !fs::read_to_string(f.root.join("b8g/var/boot/extlinux/extlinux.conf"))
            .unwrap()
            .contains("b8g-1")
    );

    // GC frees generation 1's closure and keeps generation 2's (rooted through the profile).
    ok(b8g(&f.root, &["store", "gc"]));
    let store = store_at(&f.root);
    assert!(!store.is_valid(&f.top1).unwrap());
    assert!(!store.is_valid(&f.hello1).unwrap());
    assert!(store.is_valid(&f.top2).unwrap());
    assert!(store.is_valid(&f.hello2).unwrap());
    assert!(store.real_path(&f.top2).join("boot-tries").exists());
}

#[test]
fn switch_refuses_what_is_not_a_valid_system() {
    let f = fixture();
    let store = store_at(&f.root);
    let o = b8g(&f.root, &["system", "boot", &store.print_path(&f.hello1)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a system toplevel"));
    let o = b8g(
        &f.root,
        &[
            "system",
            "boot",
            "/b8g/store/00000000000000000000000000000000-nothing",
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid in the store"));
    assert!(!f.root.join("b8g/var/profiles/system").exists());
}

fn valid_count(root: &Path) -> usize {
    store_at(root).valid_paths().unwrap().len()
}

#[test]
fn snapshot_round_trip_and_tamper_refusal() {
    let f = fixture();
    let dir = f.root.parent().unwrap().to_path_buf();
    let key = SecretKey::from_seed("snap-test-1", &[7; 32]).unwrap();
    let key_file = dir.join("key.secret");
    fs::write(&key_file, key.to_text()).unwrap();
    let public = key.public().to_string();
    let store = store_at(&f.root);
    let p2 = store.print_path(&f.top2);
    ok(b8g(&f.root, &["system", "boot", &p2]));
    let snap = dir.join("gen.snapshot");
    ok(b8g(
        &f.root,
        &[
            "snapshot",
            "export",
            "1",
            "-o",
            snap.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    ));

    // Into a fresh store: the same toplevel path, its whole closure, ready to boot.
    let r2 = dir.join("r2");
    let out = ok(b8g(
        &r2,
        &[
            "snapshot",
            "import",
            snap.to_str().unwrap(),
            "--trusted-public-keys",
            &public,
            "--boot",
        ],
    ));
    assert_eq!(out.trim(), p2);
    let s2 = store_at(&r2);
    let closure = |s: &LocalStore| -> BTreeSet<String> {
        s.closure([&f.top2])
            .unwrap()
            .iter()
            .map(|p| s.print_path(p))
            .collect()
    };
    assert_eq!(closure(&s2), closure(&store));
    assert_eq!(
        Generations::new(Some(&r2), None)
            .profile
            .toplevel(1)
            .unwrap(),
        p2
    );
    assert!(s2.real_path(&f.hello2).exists());

    // An untrusted key: refused, nothing added.
    let r3 = dir.join("r3");
    let other = SecretKey::from_seed("other-1", &[9; 32])
        .unwrap()
        .public()
        .to_string();
    let o = b8g(
        &r3,
        &[
            "snapshot",
            "import",
            snap.to_str().unwrap(),
            "--trusted-public-keys",
            &other,
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rejected") && err.contains("no valid signature"),
        "{err}"
    );
    // One line says why, naming the signer and the key trusted instead.
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("(signed by: snap-test-1; trusted: other-1)"),
        "{err}"
    );
    assert_eq!(valid_count(&r3), 0);

    // A NAR swapped inside the archive: refused as a whole, nothing added.
    let mut members = read_members(&snap);
    let (_, nar) = members
        .iter_mut()
        .find(|(n, _)| n.starts_with("nar/"))
        .unwrap();
    let mut bytes = zstd::decode_all(&nar[..]).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    *nar = zstd::encode_all(&bytes[..], 3).unwrap();
    let tampered = dir.join("tampered.snapshot");
    write_snapshot(&tampered, &members);
    let o = b8g(
        &r3,
        &[
            "snapshot",
            "import",
            tampered.to_str().unwrap(),
            "--trusted-public-keys",
            &public,
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rejected") && err.contains("the signed manifest"),
        "{err}"
    );
    assert_eq!(valid_count(&r3), 0);

    // Bytes flipped anywhere in the file itself (also where no signature reaches, such
    // as tar headers): a clear error, nothing added. A flip the decoder does not
    // see (zstd has bits that change no output byte) changes nothing that is read:
    // then the same content imports, and nothing else.
    let raw = fs::read(&snap).unwrap();
    let content = zstd::decode_all(&raw[..]).unwrap();
    for eighth in 1..8 {
        let mut bad = raw.clone();
        let at = raw.len() * eighth / 8;
        bad[at] ^= 0xff;
        let same_content = zstd::decode_all(&bad[..]).is_ok_and(|c| c == content);
        let flipped = dir.join("flipped.snapshot");
        fs::write(&flipped, bad).unwrap();
        let r = dir.join(format!("r-flipped-{eighth}"));
        let o = b8g(
            &r,
            &[
                "snapshot",
                "import",
                flipped.to_str().unwrap(),
                "--trusted-public-keys",
                &public,
            ],
        );
        if same_content {
            ok(o);
            continue;
        }
        assert!(
            !o.status.success(),
            "a byte flipped at {at} of {} was not noticed",
            raw.len()
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("snapshot"));
        assert_eq!(valid_count(&r), 0);
    }
}

/// The members of a snapshot file in archive order (directories left out).
fn read_members(snap: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(zstd::Decoder::new(fs::File::open(snap).unwrap()).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// Writes `members` in order as a snapshot file (a zstd tar), as an attacker repacking one would.
fn write_snapshot(out: &Path, members: &[(String, Vec<u8>)]) {
    let mut t = tar::Builder::new(zstd::Encoder::new(fs::File::create(out).unwrap(), 3).unwrap());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        t.append_data(&mut h, name, &data[..]).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

/// Imports `snap` into `root` with `--boot` and expects a refusal whose
/// message holds `needle`, with the store and the generations as they were:
/// the same valid paths, no stray entries, the same current generation.
fn import_refused(root: &Path, snap: &Path, public: &str, needle: &str) {
    let store = store_at(root);
    let valid_before: BTreeSet<String> = store
        .valid_paths()
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    let gens = Generations::new(Some(root), None);
    let current = gens.profile.current().unwrap();
    let top_before = current.map(|n| gens.profile.toplevel(n).unwrap());
    let o = b8g(
        root,
        &[
            "snapshot",
            "import",
            snap.to_str().unwrap(),
            "--trusted-public-keys",
            public,
            "--boot",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "imported: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    let valid_after: BTreeSet<String> = store
        .valid_paths()
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(valid_after, valid_before, "nothing registered");
    for e in fs::read_dir(store.real_store_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".links") || valid_after.contains(&name),
            "stray {name} in the store"
        );
    }
    assert_eq!(
        gens.profile.current().unwrap(),
        current,
        "generation unchanged"
    );
    assert_eq!(
        current.map(|n| gens.profile.toplevel(n).unwrap()),
        top_before
    );
}

#[test]
fn snapshot_with_swapped_toplevel_or_tampered_member_is_refused() {
    use b8g_store::format::snapshot_manifest::Manifest;
    let f = fixture();
    let dir = f.root.parent().unwrap().to_path_buf();
    let key = SecretKey::from_seed("snap-test-1", &[7; 32]).unwrap();
    let key_file = dir.join("key.secret");
    fs::write(&key_file, key.to_text()).unwrap();
    let public = key.public().to_string();
    let store = store_at(&f.root);
    let p1 = store.print_path(&f.top1);
    let p2 = store.print_path(&f.top2);
    ok(b8g(&f.root, &["system", "boot", &p1]));
    ok(b8g(&f.root, &["system", "boot", &p2]));
    // Two real signed snapshots: the old system (1) and the new one (2).
    let export = |gen: &str, out: &Path| {
        ok(b8g(
            &f.root,
            &[
                "snapshot",
                "export",
                gen,
                "-o",
                out.to_str().unwrap(),
                "--key",
                key_file.to_str().unwrap(),
            ],
        ));
    };
    let (old, new) = (dir.join("old.snapshot"), dir.join("new.snapshot"));
    export("1", &old);
    export("2", &new);
    let old_members = read_members(&old);
    let new_members = read_members(&new);
    assert_eq!(new_members[0].0, "b8g-snapshot", "the manifest comes first");

    // The machine runs the new system, imported from its snapshot.
    let r2 = dir.join("r2");
    let out = ok(b8g(
        &r2,
        &[
            "snapshot",
            "import",
            new.to_str().unwrap(),
            "--trusted-public-keys",
            &public,
            "--boot",
        ],
    ));
    assert_eq!(out.trim(), p2);

    // Every signed member of both snapshots, one archive.
    let mut union: Vec<(String, Vec<u8>)> = new_members[1..].to_vec();
    for m in &old_members[1..] {
        if !union.iter().any(|(n, _)| *n == m.0) {
            union.push(m.clone());
        }
    }

    // 1. The original attack: an unsigned `toplevel=` manifest naming the old system.
    let mut attack = vec![(
        "b8g-snapshot".to_owned(),
        format!("toplevel={p1}\n").into_bytes(),
    )];
    attack.extend(union.iter().cloned());
    let swapped = dir.join("swapped-old-format.snapshot");
    write_snapshot(&swapped, &attack);
    import_refused(&r2, &swapped, &public, "export the snapshot again");

    // 1b. The same, packed as older b8g versions packed snapshots (the cache
    //     directory archived whole, directories included, in walk order).
    let old_dir = dir.join("old-format");
    for (name, data) in &attack {
        let p = old_dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    let old_format = dir.join("old-format.snapshot");
    let mut t =
        tar::Builder::new(zstd::Encoder::new(fs::File::create(&old_format).unwrap(), 3).unwrap());
    t.append_dir_all(".", &old_dir).unwrap();
    t.into_inner().unwrap().finish().unwrap();
    import_refused(&r2, &old_format, &public, "export");

    // 2. The new snapshot's signed manifest with its toplevel (and member list) switched
    //    to the old system's: the signature no longer holds.
    let mut m = Manifest::parse(&new_members[0].1).unwrap();
    let old_manifest = Manifest::parse(&old_members[0].1).unwrap();
    m.toplevel = p1.clone();
    m.members.extend(old_manifest.members.clone());
    let mut attack = vec![("b8g-snapshot".to_owned(), m.render().into_bytes())];
    attack.extend(union.iter().cloned());
    let swapped = dir.join("swapped-toplevel.snapshot");
    write_snapshot(&swapped, &attack);
    import_refused(
        &r2,
        &swapped,
        &public,
        "no valid signature by a trusted key",
    );

    // 3. The old snapshot's manifest in front of the new snapshot's members.
    let mut attack = vec![old_members[0].clone()];
    attack.extend(new_members[1..].iter().cloned());
    let mixed = dir.join("mixed.snapshot");
    write_snapshot(&mixed, &attack);
    import_refused(&r2, &mixed, &public, "is not in the signed manifest");

    // 4. A tampered member (one byte of a NAR file, its size kept): refused at
    //    that member, into a store that then holds nothing at all.
    let mut members = new_members.clone();
    let i = members
        .iter()
        .position(|(n, _)| n.starts_with("nar/"))
        .unwrap();
    let at = members[i].1.len() / 2;
    members[i].1[at] ^= 1;
    let tampered = dir.join("tampered-member.snapshot");
    write_snapshot(&tampered, &members);
    let r4 = dir.join("r4");
    import_refused(
        &r4,
        &tampered,
        &public,
        "does not match the signed manifest",
    );
    assert_eq!(valid_count(&r4), 0);

    // 5. A member longer than the manifest says (a bomb in the tar): refused by its size.
    let mut members = new_members.clone();
    members[i].1.extend(std::iter::repeat_n(0u8, 1 << 20));
    let long = dir.join("long-member.snapshot");
    write_snapshot(&long, &members);
    import_refused(&r4, &long, &public, "the signed manifest says");
    assert_eq!(valid_count(&r4), 0);

    // 6. A member missing, and one that is not a regular file.
    let mut members = new_members.clone();
    members.remove(i);
    let short = dir.join("missing-member.snapshot");
    write_snapshot(&short, &members);
    import_refused(&r4, &short, &public, "is missing");

    // The real one still imports there afterwards.
    ok(b8g(
        &r4,
        &[
            "snapshot",
            "import",
            new.to_str().unwrap(),
            "--trusted-public-keys",
            &public,
        ],
    ));
}

/// Stage 1's generation choice, run by busybox sh against a fake root: the
/// fragment of `recipes/modules/system/initrd.nix` between `boot=` and the
/// hand-over, with the Nix escapes undone and `/sysroot` moved.
fn stage1(root: &Path) -> String {
    let nix = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/modules/system/initrd.nix"),
    )
    .unwrap();
    let a = nix
        .find("    boot=/sysroot/b8g/var/boot")
        .expect("stage 1 selection start");
    let b = nix
        .find("    # init is a link to an absolute store path")
        .expect("stage 1 hand-over");
    let frag = nix[a..b]
        .replace("''${", "${")
        .replace("/sysroot", &root.display().to_string())
        .replace(">/dev/console", ">&2");
    let script = format!("system=/b8g/store/from-cmdline\n{frag}echo \"system=$system\"\n");
    let out = Command::new("busybox")
        .args(["sh", "-c", &script])
        .output()
        .expect("busybox is needed for the stage-1 test (apt-get install busybox-static)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
        + "\n"
        + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn stage1_counts_tries_down_and_falls_back_to_the_newest_good() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let boot = r.join("b8g/var/boot/entries");
    fs::create_dir_all(&boot).unwrap();
    fs::create_dir_all(r.join("b8g/var/profiles")).unwrap();
    for g in 1..=4 {
        let top = r.join(format!("b8g/store/g{g}"));
        fs::create_dir_all(&top).unwrap();
        std::os::unix::fs::symlink("/b8g/store/x/bin/b8g-init", top.join("init")).unwrap();
    }
    let entry = |g: u32, tries: u32, good: u32, reason: &str| {
        fs::write(
            boot.join(format!("system-{g}.conf")),
            format!("generation={g}\ntoplevel=/b8g/store/g{g}\ntries={tries}\ngood={good}\nreason={reason}\n"),
        )
        .unwrap();
    };
    entry(1, 3, 1, "");
    entry(2, 3, 1, "");
    entry(
        3,
        2,
        0,
        "multi-user.target was not reached: broken.service failed",
    );
    entry(4, 3, 0, "");
    std::os::unix::fs::symlink("system-3-link", r.join("b8g/var/profiles/system")).unwrap();
    let tries = || fs::read_to_string(boot.join("system-3.conf")).unwrap();

    // Two tries left: two boots of generation 3, each counted before the hand-over.
    assert!(stage1(r).starts_with("system=/b8g/store/g3"));
    assert!(tries().contains("tries=1\n"));
    assert!(stage1(r).starts_with("system=/b8g/store/g3"));
    assert!(tries().contains("tries=0\n"));
    // None left: the newest good generation (2, not 4 which is not good), with the reason.
    let out = stage1(r);
    assert!(out.starts_with("system=/b8g/store/g2"), "{out}");
    assert!(
        out.contains("skipping generation 3: multi-user.target was not reached"),
        "{out}"
    );
    let last = fs::read_to_string(r.join("b8g/var/boot/last-boot")).unwrap();
    assert_eq!(
        last,
        "generation=2\nskipped=3\nskipped_reason=multi-user.target was not reached: broken.service failed\n"
    );
    // A generation whose init is gone is skipped at once.
    fs::remove_file(r.join("b8g/store/g2/init")).unwrap();
    let out = stage1(r);
    assert!(out.starts_with("system=/b8g/store/g1"), "{out}");
    // Without entries the kernel command line decides.
    fs::remove_dir_all(&boot).unwrap();
    assert!(stage1(r).starts_with("system=/b8g/store/from-cmdline"));
}

/// `switch`, `test` and `rollback` activate: on a machine where b8g-init is not
/// running (or on a tree under --root) they refuse before the profile changes.
#[test]
fn activation_without_a_running_b8g_init_changes_nothing() {
    assert!(
        !std::path::Path::new("/run/b8g/control").exists(),
        "this test needs a host not run by b8g-init"
    );
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    for words in [
        &["system", "--profile", "@P", "switch", "1"][..],
        &["system", "--profile", "@P", "test", "1"],
        &["system", "--profile", "@P", "rollback"],
    ] {
        let args: Vec<String> = words
            .iter()
            .map(|w| w.replace("@P", &profiles.to_string_lossy()))
            .collect();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_b8g"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("b8g-init is not running here"),
            "{args:?}: {err}"
        );
        assert!(err.contains("b8g system boot"), "{err}");
    }
    assert!(!profiles.exists(), "the profile was touched");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_b8g"))
        .arg("--root")
        .arg(dir.path().join("tree"))
        .args(["system", "switch", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("cannot activate a system under --root"),
        "{err}"
    );
    assert!(!dir.path().join("tree").exists(), "the tree was touched");
}

/// A VM booted straight from an image has no stage-1 record: the generation it
/// runs is known by /run/booted-system and /run/current-system, and neither
/// `delete-generations` nor `store gc` may take it (the newcomer pass deleted the
/// running system's generation and GC removed its toplevel).
#[test]
fn the_running_system_is_neither_deleted_nor_collected() {
    let f = fixture();
    let store = store_at(&f.root);
    let (p1, p2) = (store.print_path(&f.top1), store.print_path(&f.top2));
    ok(b8g(&f.root, &["system", "boot", &p1]));
    ok(b8g(&f.root, &["system", "boot", &p2]));
    fs::create_dir_all(f.root.join("run")).unwrap();
    std::os::unix::fs::symlink(&p1, f.root.join("run/booted-system")).unwrap();
    std::os::unix::fs::symlink(&p1, f.root.join("run/current-system")).unwrap();
    let list = ok(b8g(&f.root, &["system", "list-generations"]));
    assert!(
        list.lines().any(|l| l.starts_with("   1 booted running ")),
        "{list}"
    );
    ok(b8g(&f.root, &["system", "delete-generations", "1"]));
    let gens = Generations::new(Some(&f.root), None);
    assert_eq!(gens.profile.generations().unwrap().len(), 2, "kept");
    // Even with its generation gone (deleted before these links existed), GC keeps it.
    fs::remove_file(f.root.join("run/booted-system")).unwrap();
    fs::remove_file(f.root.join("b8g/var/profiles/system-1-link")).unwrap();
    ok(b8g(&f.root, &["store", "gc"]));
    assert!(store.is_valid(&f.top1).unwrap());
    assert!(store.is_valid(&f.hello1).unwrap());
    fs::remove_file(f.root.join("run/current-system")).unwrap();
    ok(b8g(&f.root, &["store", "gc"]));
    assert!(!store_at(&f.root).is_valid(&f.top1).unwrap());
}
