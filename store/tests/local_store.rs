//! Integration tests of the local store: additions, queries, references,
//! GC roots, verify/repair, optimise, bad NAR input.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use b8g_store::format::hash::HashAlgo;
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{GcOptions, LocalStore, Problem, StoreConfig, VerifyOptions};

struct Fixture {
    dir: tempfile::TempDir,
    store: LocalStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(&StoreConfig {
        store_dir: StoreDir::new("/b8g/store").expect("store dir"),
        state_dir: PathBuf::from("/b8g/var/b8g"),
        root: Some(dir.path().join("root")),
    })
    .expect("open store");
    Fixture { dir, store }
}

impl Fixture {
    fn src(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("src").join(name);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        p
    }
    fn tree(&self, name: &str, content: &str) -> PathBuf {
        let p = self.src(name);
        fs::create_dir_all(p.join("sub")).expect("mkdir");
        fs::write(p.join("sub/file"), content).expect("write");
        fs::write(p.join("exe"), "#!/bin/sh\n").expect("write");
        fs::set_permissions(p.join("exe"), fs::Permissions::from_mode(0o755)).expect("chmod");
        symlink("sub/file", p.join("link")).expect("symlink");
        p
    }
    fn gcroots(&self) -> PathBuf {
        self.store.state_dir().join("gcroots")
    }
    fn store_entries(&self) -> BTreeSet<String> {
        fs::read_dir(self.store.real_store_dir())
            .expect("read store")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".links")
            .collect()
    }
}

#[test]
fn add_recursive_is_canonical_registered_and_idempotent() {
    let f = fixture();
    let src = f.tree("pkg", "hello");
    let p = f.store.add_recursive(&src, "pkg").expect("add");
    let real = f.store.real_path(&p);
    assert_eq!(
        fs::read_to_string(real.join("sub/file")).expect("read"),
        "hello"
    );
    let mode = |q: &Path| fs::symlink_metadata(q).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode(&real), 0o555);
    assert_eq!(mode(&real.join("sub/file")), 0o444);
    assert_eq!(mode(&real.join("exe")), 0o555);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::symlink_metadata(real.join("link"))
            .expect("stat")
            .mtime(),
        1
    );

    let info = f.store.path_info(&p).expect("query").expect("valid");
    let (h, n) = b8g_store::nar_fs::hash_path(&real, HashAlgo::Sha256).expect("hash");
    assert_eq!((info.nar_hash, info.nar_size), (h, n));
    assert!(info
        .ca
        .as_deref()
        .is_some_and(|c| c.starts_with("fixed:r:sha256:")));
    assert!(info.references.is_empty());

    // Same content, same path; nothing left behind.
    let again = f.store.add_recursive(&src, "pkg").expect("add again");
    assert_eq!(again, p);
    assert_eq!(f.store_entries(), BTreeSet::from([p.to_string()]));
}

#[test]
fn flat_needs_a_regular_file_and_differs_from_recursive() {
    let f = fixture();
    let file = f.src("blob");
    fs::write(&file, "data").expect("write");
    let flat = f.store.add_flat(&file, "blob").expect("flat");
    let rec = f.store.add_recursive(&file, "blob").expect("recursive");
    assert_ne!(flat, rec);
    let dir = f.tree("dir", "x");
    assert!(f.store.add_flat(&dir, "dir").is_err());
}

#[test]
fn text_paths_references_referrers_closure() {
    let f = fixture();
    let a = f.store.add_text("a", b"leaf", &[]).expect("a");
    let b_text = format!("uses {}", f.store.print_path(&a));
    let b = f
        .store
        .add_text("b", b_text.as_bytes(), std::slice::from_ref(&a))
        .expect("b");
    let c_text = format!("uses {}", f.store.print_path(&b));
    let c = f
        .store
        .add_text("c", c_text.as_bytes(), std::slice::from_ref(&b))
        .expect("c");
    assert_eq!(
        f.store.references(&c).expect("refs"),
        BTreeSet::from([b.clone()])
    );
    assert_eq!(
        f.store.referrers(&a).expect("referrers"),
        BTreeSet::from([b.clone()])
    );
    assert_eq!(
        f.store.closure([&c]).expect("closure"),
        BTreeSet::from([a.clone(), b.clone(), c.clone()])
    );
    // A reference to an invalid path is refused and leaves nothing behind.
    let ghost = StorePath::from_base_name("00000000000000000000000000000000-ghost").expect("path");
    assert!(f.store.add_text("d", b"x", &[ghost]).is_err());
    assert_eq!(f.store_entries().len(), 3);
}

#[test]
fn built_paths_get_scanned_references_including_self() {
    let f = fixture();
    let dep = f.store.add_text("dep", b"dependency", &[]).expect("dep");
    let unused = f
        .store
        .add_text("unused", b"not referenced", &[])
        .expect("unused");
    let out = StorePath::from_base_name("1b9p07z77phvv2hf6gm9f28syh7ic0fk-out").expect("path");
    let _lock = f.store.lock_path(&out).expect("lock");
    let real = f.store.real_path(&out);
    fs::create_dir(&real).expect("mkdir");
    // The dependency's hash split over a large file, and a self-reference in a symlink.
    let mut big = vec![b'x'; 100_000];
    big.extend_from_slice(f.store.print_path(&dep).as_bytes());
    fs::write(real.join("big"), &big).expect("write");
    symlink(f.store.print_path(&out), real.join("self")).expect("symlink");
    let candidates = BTreeSet::from([dep.clone(), unused.clone(), out.clone()]);
    let info = f
        .store
        .register_built_path(&out, &candidates, None)
        .expect("register");
    assert_eq!(info.references, BTreeSet::from([dep.clone(), out.clone()]));
    assert_eq!(
        f.store.references(&out).expect("refs"),
        BTreeSet::from([dep, out.clone()])
    );
}

#[test]
fn outputs_referring_to_each_other_register_together() {
    let f = fixture();
    let out = StorePath::from_base_name("3b9p07z77phvv2hf6gm9f28syh7ic0fk-x").expect("path");
    let dev = StorePath::from_base_name("4b9p07z77phvv2hf6gm9f28syh7ic0fk-x-dev").expect("path");
    let _l1 = f.store.lock_path(&out).expect("lock");
    let _l2 = f.store.lock_path(&dev).expect("lock");
    // A cycle: out mentions dev and dev mentions out.
    fs::write(f.store.real_path(&out), f.store.print_path(&dev)).expect("write");
    fs::write(f.store.real_path(&dev), f.store.print_path(&out)).expect("write");
    let candidates = BTreeSet::from([out.clone(), dev.clone()]);
    // One at a time cannot work: each needs the other to be valid first.
    assert!(f
        .store
        .register_built_path(&out, &candidates, None)
        .is_err());
    assert!(!f.store.is_valid(&out).expect("q"));
    let infos = f
        .store
        .register_built_paths(&[out.clone(), dev.clone()], &candidates, None)
        .expect("register both");
    assert_eq!(infos[0].references, BTreeSet::from([dev.clone()]));
    assert_eq!(
        f.store.references(&dev).expect("refs"),
        BTreeSet::from([out.clone()])
    );
}

#[test]
fn gc_keeps_rooted_closures_and_deletes_garbage() {
    let f = fixture();
    let leaf = f.store.add_text("leaf", b"leaf", &[]).expect("leaf");
    let mid_text = format!("-> {}", f.store.print_path(&leaf));
    let mid = f
        .store
        .add_text("mid", mid_text.as_bytes(), std::slice::from_ref(&leaf))
        .expect("mid");
    let top_text = format!("-> {}", f.store.print_path(&mid));
    let top = f
        .store
        .add_text("top", top_text.as_bytes(), std::slice::from_ref(&mid))
        .expect("top");
    let indirect = f
        .store
        .add_text("indirect", b"kept through a result link", &[])
        .expect("ind");
    let dangling = f
        .store
        .add_text("dangling", b"root whose link is gone", &[])
        .expect("dangling");
    let temp = f
        .store
        .add_text("temp", b"temporary root of a live process", &[])
        .expect("temp");
    let dead_temp = f
        .store
        .add_text("deadtemp", b"temporary root of a dead process", &[])
        .expect("dt");
    let garbage = f
        .store
        .add_text("garbage", b"nobody wants me", &[])
        .expect("garbage");
    let garbage_ref_text = format!("-> {}", f.store.print_path(&leaf));
    let garbage2 = f
        .store
        .add_text(
            "garbage2",
            garbage_ref_text.as_bytes(),
            std::slice::from_ref(&leaf),
        )
        .expect("g2");

    // Roots: direct, indirect (via a `result` link outside), dangling indirect.
    symlink(f.store.print_path(&top), f.gcroots().join("top")).expect("root");
    let result = f.dir.path().join("result");
    symlink(f.store.print_path(&indirect), &result).expect("result");
    fs::create_dir_all(f.gcroots().join("auto")).expect("auto");
    symlink(&result, f.gcroots().join("auto/1")).expect("indirect root");
    let gone = f.dir.path().join("gone-result");
    symlink(f.store.print_path(&dangling), &gone).expect("gone");
    symlink(&gone, f.gcroots().join("auto/2")).expect("dangling root");
    fs::remove_file(&gone).expect("remove result link");

    // Temporary roots: one of a "live process" (a locked file), one of a dead one.
    let temproots = f.store.state_dir().join("temproots");
    let live = File::create(temproots.join("999999991")).expect("temproots");
    fs4::fs_std::FileExt::lock_exclusive(&live).expect("lock");
    (&live)
        .write_all(format!("{}\0", f.store.print_path(&temp)).as_bytes())
        .expect("write");
    fs::write(
        temproots.join("999999992"),
        format!("{}\0", f.store.print_path(&dead_temp)),
    )
    .expect("write");

    // Our own handle's temporary roots protect everything it added.
    let dry = f
        .store
        .gc(&GcOptions {
            dry_run: true,
            max_freed: None,
            ..Default::default()
        })
        .expect("dry run");
    assert!(
        dry.deleted.is_empty(),
        "all are temporary roots of this handle: {:?}",
        dry.deleted
    );

    // Another handle (as another process would) after ours is gone.
    let Fixture { dir, store } = f;
    let f = Fixture {
        store: reopen(&dir, store),
        dir,
    };
    let dry = f
        .store
        .gc(&GcOptions {
            dry_run: true,
            max_freed: None,
            ..Default::default()
        })
        .expect("dry run");
    assert_eq!(dry.deleted.len(), 4, "{:?}", dry.deleted);
    assert!(
        f.store.is_valid(&garbage).expect("q"),
        "a dry run deletes nothing"
    );
    let report = f.store.gc(&GcOptions::default()).expect("gc").deleted;
    let deleted: BTreeSet<String> = report.into_iter().collect();
    let name = |p: &StorePath| f.store.print_path(p);
    let expected: BTreeSet<String> = [&dangling, &dead_temp, &garbage, &garbage2]
        .iter()
        .map(|p| name(p))
        .collect();
    assert_eq!(deleted, expected);
    for kept in [&leaf, &mid, &top, &indirect, &temp] {
        assert!(f.store.is_valid(kept).expect("q"), "{kept} must survive");
        assert!(f.store.real_path(kept).exists(), "{kept} must stay on disk");
    }
    for gone in [&dangling, &dead_temp, &garbage, &garbage2] {
        assert!(!f.store.is_valid(gone).expect("q"));
        assert!(!f.store.real_path(gone).exists());
    }
    assert!(
        fs::symlink_metadata(f.gcroots().join("auto/2")).is_err(),
        "dangling root removed"
    );
    assert!(
        fs::symlink_metadata(f.gcroots().join("auto/1")).is_ok(),
        "live indirect root kept"
    );
    assert!(
        !temproots.join("999999992").exists(),
        "dead process's temp roots removed"
    );
    drop(live);
}

/// Drops `store` (releasing its temporary roots) and opens the same store again.
#[test]
fn gc_keeps_paths_that_live_processes_use() {
    let f = fixture();
    let open_file = f
        .store
        .add_text("held", b"a file this process keeps open", &[])
        .expect("held");
    let dir = f.tree("workdir", "a process runs in here");
    let cwd = f.store.add_recursive(&dir, "workdir").expect("add workdir");
    let unused = f
        .store
        .add_text("unused", b"nobody uses me", &[])
        .expect("unused");
    // A fresh handle, so the first one's temporary roots do not protect them.
    let Fixture { dir, store } = f;
    let f = Fixture {
        store: reopen(&dir, store),
        dir,
    };

    let held = File::open(f.store.real_path(&open_file)).expect("open held file");
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .current_dir(f.store.real_path(&cwd))
        .spawn()
        .expect("spawn sleep");
    let runtime: BTreeSet<String> = f
        .store
        .roots()
        .expect("roots")
        .into_iter()
        .filter(|r| r.kind == b8g_store::local::RootKind::Runtime)
        .map(|r| r.target)
        .collect();
    let report = f.store.gc(&GcOptions::default());
    let _ = child.kill();
    let _ = child.wait();
    let deleted: BTreeSet<String> = report.expect("gc").deleted.into_iter().collect();
    assert!(
        runtime.contains(&f.store.print_path(&open_file))
            && runtime.contains(&f.store.print_path(&cwd)),
        "{runtime:?}"
    );
    assert_eq!(
        deleted,
        BTreeSet::from([f.store.print_path(&unused)]),
        "only the unused path goes"
    );

    // Once nobody uses them, they are garbage like any other path.
    drop(held);
    let deleted: BTreeSet<String> = f
        .store
        .gc(&GcOptions::default())
        .expect("gc")
        .deleted
        .into_iter()
        .collect();
    assert_eq!(
        deleted,
        BTreeSet::from([f.store.print_path(&open_file), f.store.print_path(&cwd)])
    );
}

fn reopen(dir: &tempfile::TempDir, store: LocalStore) -> LocalStore {
    let config = StoreConfig {
        store_dir: store.store_dir().clone(),
        state_dir: PathBuf::from("/b8g/var/b8g"),
        root: Some(dir.path().join("root")),
    };
    drop(store);
    LocalStore::open(&config).expect("reopen")
}

#[test]
fn verify_finds_and_repairs_problems() {
    let f = fixture();
    let a = f.store.add_text("a", b"a", &[]).expect("a");
    let b_text = f.store.print_path(&a);
    let b = f
        .store
        .add_text("b", b_text.as_bytes(), std::slice::from_ref(&a))
        .expect("b");
    let c = f.store.add_recursive(&f.tree("c", "c"), "c").expect("c");
    let ok = f
        .store
        .verify(&VerifyOptions {
            check_contents: true,
            repair: false,
        })
        .expect("verify");
    assert!(ok.is_ok() && ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.checked, 3);

    // Break things: a missing path (with a referrer), changed contents, leftovers.
    fs::remove_file(f.store.real_path(&a)).expect("rm a");
    let file = f.store.real_path(&c).join("sub/file");
    fs::set_permissions(
        f.store.real_path(&c).join("sub"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&file, "tampered").expect("tamper");
    fs::create_dir(f.store.real_store_dir().join(".tmp-b8g-1-1")).expect("leftover");
    fs::write(
        f.store
            .real_store_dir()
            .join("2b9p07z77phvv2hf6gm9f28syh7ic0fk-half"),
        "x",
    )
    .expect("leftover");

    let bad = f
        .store
        .verify(&VerifyOptions {
            check_contents: true,
            repair: false,
        })
        .expect("verify");
    assert!(!bad.is_ok());
    assert!(bad.problems.contains(&Problem::Missing {
        path: f.store.print_path(&a)
    }));
    assert!(bad.problems.iter().any(
        |p| matches!(p, Problem::ContentsChanged { path, .. } if *path == f.store.print_path(&c))
    ));
    assert_eq!(
        bad.problems
            .iter()
            .filter(|p| matches!(p, Problem::Unregistered { .. }))
            .count(),
        2
    );

    let fixed = f
        .store
        .verify(&VerifyOptions {
            check_contents: true,
            repair: true,
        })
        .expect("repair");
    // Changed contents cannot be repaired locally; everything else is.
    assert_eq!(fixed.unresolved.len(), 1, "{:?}", fixed.unresolved);
    assert!(!f.store.is_valid(&a).expect("q"));
    assert!(
        !f.store.is_valid(&b).expect("q"),
        "referrer of a missing path is dropped too"
    );
    assert!(!f.store.real_store_dir().join(".tmp-b8g-1-1").exists());
    let after = f
        .store
        .verify(&VerifyOptions {
            check_contents: false,
            repair: false,
        })
        .expect("verify");
    assert!(after.is_ok(), "{:?}", after.problems);
}

#[test]
fn optimise_links_identical_files() {
    let f = fixture();
    let content = "same bytes ".repeat(1000);
    let p1 = f
        .store
        .add_recursive(&f.tree("one", &content), "one")
        .expect("one");
    let p2 = f
        .store
        .add_recursive(&f.tree("two", &content), "two2")
        .expect("two");
    assert_ne!(p1, p2);
    let report = f.store.optimise().expect("optimise");
    // sub/file and exe are shared between the two trees.
    assert_eq!(report.files_linked, 2);
    assert_eq!(
        report.bytes_saved,
        content.len() as u64 + "#!/bin/sh\n".len() as u64
    );
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &StorePath| {
        fs::metadata(f.store.real_path(p).join("sub/file"))
            .expect("stat")
            .ino()
    };
    assert_eq!(ino(&p1), ino(&p2));
    let again = f.store.optimise().expect("optimise again");
    assert_eq!(again.files_linked, 0);
    let v = f
        .store
        .verify(&VerifyOptions {
            check_contents: true,
            repair: false,
        })
        .expect("verify");
    assert!(v.is_ok(), "{:?}", v.problems);
}

#[test]
fn malformed_nar_leaves_nothing_in_the_store() {
    let f = fixture();
    let good = f.tree("t", "content");
    let mut nar = Vec::new();
    b8g_store::nar_fs::dump_path(&good, &mut nar).expect("dump");
    for cut in [0, 7, 40, nar.len() / 2, nar.len() - 8] {
        let mut bad = &nar[..cut];
        assert!(
            f.store.add_nar(&mut bad, "t").is_err(),
            "truncated at {cut}"
        );
    }
    let mut garbage: &[u8] = b"\x0d\0\0\0\0\0\0\0nix-archive-2\0\0\0";
    assert!(f.store.add_nar(&mut garbage, "t").is_err());
    assert!(f.store_entries().is_empty(), "{:?}", f.store_entries());
    assert!(f.store.valid_paths().expect("q").is_empty());
    let mut ok: &[u8] = &nar;
    let p = f.store.add_nar(&mut ok, "t").expect("good NAR");
    assert_eq!(p, f.store.add_recursive(&good, "t").expect("same path"));
}

/// `extra_roots` (the pinned seeds for `b8g store gc`) keep their closures
/// like any root; without them the same paths are garbage.
#[test]
fn gc_keeps_extra_roots_with_their_closures() {
    let f = fixture();
    let dep = f.store.add_text("dep", b"dep", &[]).expect("dep");
    let seed = f
        .store
        .add_text(
            "seed.deb",
            f.store.print_path(&dep).as_bytes(),
            std::slice::from_ref(&dep),
        )
        .expect("seed");
    let other = f.store.add_text("other", b"other", &[]).expect("other");
    let Fixture { dir, store } = f;
    let store = reopen(&dir, store);
    let opts = |extra: Vec<StorePath>, dry_run| GcOptions {
        dry_run,
        extra_roots: extra,
        ..Default::default()
    };
    let dry = store.gc(&opts(Vec::new(), true)).expect("dry run");
    assert_eq!(dry.deleted.len(), 3, "{:?}", dry.deleted);
    let report = store.gc(&opts(vec![seed.clone()], false)).expect("gc");
    assert_eq!(report.deleted, [store.print_path(&other)]);
    assert!(store.is_valid(&seed).expect("q") && store.is_valid(&dep).expect("q"));
    assert!(store.real_path(&dep).exists());
}

/// `valid_fixed_source`: a source already in the store is found by its
/// content hash, without copying it in again, and is then a temporary root
/// of the handle that asked, as an added path would be.
#[test]
fn a_valid_source_is_found_by_its_hash_and_held_from_gc() {
    use b8g_store::format::store_path::FileIngestionMethod;
    let f = fixture();
    let config = StoreConfig {
        store_dir: StoreDir::new("/b8g/store").expect("store dir"),
        state_dir: PathBuf::from("/b8g/var/b8g"),
        root: Some(f.dir.path().join("root")),
    };
    let src = f.tree("pkg", "hello");
    let (hash, _) = b8g_store::nar_fs::hash_path(&src, HashAlgo::Sha256).expect("hash");
    let rec = FileIngestionMethod::Recursive;
    assert_eq!(
        f.store.valid_fixed_source("pkg", rec, &hash).expect("ask"),
        None
    );
    let file = f.src("blob");
    fs::write(&file, "data").expect("write");
    let flat_hash = HashAlgo::Sha256.digest(b"data");
    let flat = FileIngestionMethod::Flat;
    {
        // Added by a handle that is gone before the others look.
        let adder = LocalStore::open(&config).expect("open");
        adder.add_recursive(&src, "pkg").expect("add");
        adder.add_flat(&file, "blob").expect("add flat");
    }
    let asker = LocalStore::open(&config).expect("open");
    let held = asker.valid_fixed_source("pkg", rec, &hash).expect("ask");
    let added = f.store.add_recursive(&src, "pkg").expect("same path");
    assert_eq!(held.as_ref(), Some(&added));
    assert!(asker
        .valid_fixed_source("blob", flat, &flat_hash)
        .expect("ask flat")
        .is_some());
    // Another name, or other content, is another path: not there.
    assert_eq!(
        asker.valid_fixed_source("other", rec, &hash).expect("ask"),
        None
    );
    assert_eq!(
        asker.valid_fixed_source("pkg", flat, &hash).expect("ask"),
        None
    );

    // A GC from a third handle keeps what `asker` holds; `f.store` added
    // the tree too, so it is dropped first to leave `asker`'s root alone.
    drop(f.store);
    let collector = LocalStore::open(&config).expect("open");
    collector.gc(&GcOptions::default()).expect("gc");
    assert!(
        collector.is_valid(&added).expect("valid"),
        "a held source was collected"
    );
    drop(asker);
    collector.gc(&GcOptions::default()).expect("gc");
    assert!(
        !collector.is_valid(&added).expect("valid"),
        "unheld source kept"
    );
}

/// A flat addition stores the bytes only, as Nix does: a regular file with
/// no execute bit, whether the source is executable or a link to the file.
#[test]
fn flat_stores_the_bytes_of_the_file_whatever_its_mode_or_links() {
    let f = fixture();
    let plain = f.src("plain");
    fs::write(&plain, "#!/bin/sh\necho hi\n").expect("write");
    let exe = f.src("exe");
    fs::write(&exe, "#!/bin/sh\necho hi\n").expect("write");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
    let link = f.src("link");
    symlink(&exe, &link).expect("symlink");
    let a = f.store.add_flat(&plain, "f").expect("plain");
    let info = f.store.path_info(&a).expect("query").expect("valid");
    for src in [&exe, &link] {
        let p = f.store.add_flat(src, "f").expect("add");
        assert_eq!(p, a, "{}", src.display());
    }
    // Added first from the executable (a store of its own): the same content.
    let g = fixture();
    let b = g.store.add_flat(&link, "f").expect("via link");
    let real = g.store.real_path(&b);
    let meta = fs::symlink_metadata(&real).expect("stat");
    assert!(meta.is_file(), "stored as {:?}", meta.file_type());
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    let other = g.store.path_info(&b).expect("query").expect("valid");
    assert_eq!(
        (other.nar_hash, other.nar_size),
        (info.nar_hash, info.nar_size)
    );
    // A pipe is not a regular file, and is refused without blocking.
    let fifo = f.src("fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .expect("mkfifo");
    assert!(f.store.add_flat(&fifo, "p").is_err());
}
