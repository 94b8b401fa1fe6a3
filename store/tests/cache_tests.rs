//! Binary cache tests: push/pull through `file://` and the HTTP server,
//! tampering refused, cache verification, and interoperation with Nix 2.8
//! (`nix copy` both ways). Every server listens on 127.0.0.1 only.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use b8g_store::cache::file::FileCache;
use b8g_store::cache::http::HttpCache;
use b8g_store::cache::server::{self, ServeOptions};
use b8g_store::cache::{
    self, push, substitute, verify_cache, BinaryCache, PushOptions, SubstituteError,
};
use b8g_store::format::hash::{HashAlgo, HashSink};
use b8g_store::format::narinfo::{Compression, NarInfo};
use b8g_store::format::signing::{PublicKey, SecretKey};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};
use tempfile::TempDir;

fn nix_dir() -> StoreDir {
    StoreDir::new("/nix/store").expect("valid store dir")
}

/// A chroot store with logical directory /nix/store under `root`.
fn open_store(root: &Path) -> LocalStore {
    let config = StoreConfig {
        store_dir: nix_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(root.to_owned()),
    };
    LocalStore::open(&config).expect("open store")
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&format!("test-cache-{n}"), &[n; 32]).expect("valid key")
}

/// A small closure: a tree (with an executable, a symlink and a 300 kB
/// file), a text file, and a top object referring to both.
struct Fixture {
    _dir: TempDir,
    store: Arc<LocalStore>,
    tree: StorePath,
    dep: StorePath,
    /// Input-addressed (no CA), as a build output is: Nix trusts such a path only by signature.
    built: StorePath,
    top: StorePath,
}

fn fixture() -> Fixture {
    let dir = TempDir::new().expect("tempdir");
    let store = Arc::new(open_store(&dir.path().join("root")));
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub")).expect("mkdir");
    fs::write(src.join("a.txt"), b"hello\n").expect("write");
    fs::write(src.join("sub/run"), b"#!/bin/sh\necho run\n").expect("write");
    fs::set_permissions(src.join("sub/run"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("a.txt", src.join("link")).expect("symlink");
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(src.join("big.bin"), big).expect("write");
    let tree = store.add_recursive(&src, "tree").expect("add tree");
    let dep = store
        .add_text("dep.txt", b"dependency\n", &[])
        .expect("add text");
    let out = dir.path().join("out");
    fs::create_dir_all(out.join("bin")).expect("mkdir");
    fs::write(
        out.join("bin/tool"),
        format!("#!/bin/sh\ncat {}\n", store.print_path(&dep)),
    )
    .expect("write");
    fs::set_permissions(out.join("bin/tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let nar = b8g_store::nar_fs::dump_path(&out, Vec::new()).expect("dump");
    let mut sink = HashSink::new(HashAlgo::Sha256);
    sink.write_all(&nar).expect("hash");
    let (nar_hash, nar_size) = sink.finish();
    let built = StorePath::from_parts([7; 20], "built-1.0").expect("valid");
    let expectation = b8g_store::local::NarExpectation {
        path: built.clone(),
        nar_hash,
        nar_size,
        references: [dep.clone()].into(),
        deriver: None,
        signatures: vec![],
        ca: None,
    };
    store
        .import_nar(&mut &nar[..], expectation)
        .expect("import built path");
    let body = format!(
        "{}\n{}\n{}\n",
        store.print_path(&tree),
        store.print_path(&dep),
        store.print_path(&built)
    );
    let top = store
        .add_text(
            "top",
            body.as_bytes(),
            &[tree.clone(), dep.clone(), built.clone()],
        )
        .expect("add top");
    Fixture {
        _dir: dir,
        store,
        tree,
        dep,
        built,
        top,
    }
}

fn file_cache(dir: &TempDir) -> Arc<dyn BinaryCache> {
    Arc::new(FileCache::new(dir.path().join("cache")))
}

fn push_signed(
    f: &Fixture,
    cache: &dyn BinaryCache,
    k: &SecretKey,
    compression: Compression,
) -> cache::PushReport {
    let opts = PushOptions {
        key: Some(k),
        compression,
        ..PushOptions::default()
    };
    push(&f.store, cache, std::slice::from_ref(&f.top), &opts).expect("push")
}

fn nar_of(store: &LocalStore, p: &StorePath) -> Vec<u8> {
    b8g_store::nar_fs::dump_path(&store.real_path(p), Vec::new()).expect("dump")
}

/// Substitutes `f.top` into a fresh store and checks it equals the source.
fn pull_and_compare(f: &Fixture, caches: &[Arc<dyn BinaryCache>], keys: &[PublicKey]) {
    let dir = TempDir::new().expect("tempdir");
    let dest = open_store(dir.path());
    let report = substitute(std::slice::from_ref(&f.top), caches, keys, &dest).expect("substitute");
    assert_eq!(report.substituted.len(), 4);
    // References arrive before the paths that need them.
    assert_eq!(report.substituted.last().map(|x| &x.0), Some(&f.top));
    for p in [&f.tree, &f.dep, &f.built, &f.top] {
        assert!(dest.is_valid(p).expect("query"), "{p} valid");
        let a = f.store.path_info(p).expect("query").expect("valid");
        let b = dest.path_info(p).expect("query").expect("valid");
        assert_eq!(
            (a.nar_hash, a.nar_size, &a.references),
            (b.nar_hash, b.nar_size, &b.references)
        );
        assert!(!b.signatures.is_empty(), "signatures are recorded");
        assert_eq!(nar_of(&f.store, p), nar_of(&dest, p));
    }
}

#[test]
fn file_push_then_substitute_every_compression() {
    let f = fixture();
    for c in [Compression::Zstd, Compression::Xz, Compression::None] {
        let dir = TempDir::new().expect("tempdir");
        let cache = file_cache(&dir);
        let k = key(1);
        let report = push_signed(&f, cache.as_ref(), &k, c.clone());
        assert_eq!(report.pushed.len(), 4);
        assert_eq!(report.pushed.last(), Some(&f.top));
        let info_text = fs::read(
            dir.path()
                .join("cache")
                .join(format!("{}.narinfo", f.tree.hash_part())),
        )
        .expect("narinfo");
        let info = NarInfo::parse(&nix_dir(), &info_text).expect("parses");
        assert_eq!(info.compression, c);
        assert!(info.url.ends_with(&format!(".nar{}", c.extension())));
        assert!(dir.path().join("cache").join(&info.url).is_file());
        assert!(fs::read_to_string(dir.path().join("cache/nix-cache-info"))
            .expect("cache info")
            .contains("StoreDir: /nix/store"));
        pull_and_compare(&f, &[cache], &[k.public()]);
    }
}

/// What an import batch stages is invisible until it commits: not valid,
/// not at its final name; a batch dropped without committing leaves
/// nothing; paths referring to each other register together.
#[test]
fn import_batch_registers_only_on_commit() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let dest = open_store(dir.path());
    let expect = |p: &StorePath| {
        let i = f.store.path_info(p).expect("query").expect("valid");
        b8g_store::local::NarExpectation {
            path: p.clone(),
            nar_hash: i.nar_hash,
            nar_size: i.nar_size,
            references: i.references,
            deriver: i.deriver,
            signatures: i.signatures,
            ca: i.ca,
        }
    };
    let store_entries = || -> BTreeSet<String> {
        fs::read_dir(dest.real_store_dir())
            .expect("read store")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".links")
            .collect()
    };

    // Dropped without commit: nothing valid, no temporary left.
    {
        let batch = dest.import_batch().expect("batch");
        let staged = batch
            .stage_nar(&mut &nar_of(&f.store, &f.tree)[..], expect(&f.tree))
            .expect("stage");
        assert!(staged);
        assert_eq!(batch.len(), 1);
        assert!(!dest.is_valid(&f.tree).expect("query"));
        assert!(!dest.real_path(&f.tree).exists());
    }
    assert!(store_entries().is_empty(), "{:?}", store_entries());

    // A NAR that does not match is refused and leaves nothing.
    let batch = dest.import_batch().expect("batch");
    let mut wrong = expect(&f.dep);
    wrong.nar_size += 1;
    let err = batch
        .stage_nar(&mut &nar_of(&f.store, &f.dep)[..], wrong)
        .expect_err("a size mismatch is refused");
    assert!(err.to_string().contains("size"), "{err}");
    assert!(batch.is_empty());

    // The whole closure in one batch, referrers staged before references.
    for p in [&f.top, &f.built, &f.dep, &f.tree] {
        assert!(batch
            .stage_nar(&mut &nar_of(&f.store, p)[..], expect(p))
            .expect("stage"));
    }
    assert!(!dest.is_valid(&f.top).expect("query"));
    let registered: BTreeSet<StorePath> = batch.commit().expect("commit").into_iter().collect();
    let all: BTreeSet<StorePath> = [&f.top, &f.built, &f.dep, &f.tree]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(registered, all);
    for p in &all {
        assert_eq!(nar_of(&f.store, p), nar_of(&dest, p));
        let info = dest.path_info(p).expect("query").expect("valid");
        assert_eq!(info.references, expect(p).references);
    }
    let names: BTreeSet<String> = all.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        store_entries(),
        names,
        "only the committed paths, no temporaries"
    );

    // Staging a valid path reads nothing and commits nothing.
    let batch = dest.import_batch().expect("batch");
    assert!(!batch
        .stage_nar(&mut &b""[..], expect(&f.top))
        .expect("valid already"));
    assert!(batch.commit().expect("commit").is_empty());
}

#[test]
fn push_skips_what_the_cache_has() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let cache = file_cache(&dir);
    let k = key(1);
    let opts = PushOptions {
        key: Some(&k),
        closure: false,
        ..PushOptions::default()
    };
    let first = push(
        &f.store,
        cache.as_ref(),
        std::slice::from_ref(&f.dep),
        &opts,
    )
    .expect("push");
    assert_eq!((first.pushed.len(), first.skipped), (1, 0));
    let second = push_signed(&f, cache.as_ref(), &k, Compression::Zstd);
    assert_eq!((second.pushed.len(), second.skipped), (3, 1));
    let third = push_signed(&f, cache.as_ref(), &k, Compression::Zstd);
    assert_eq!((third.pushed.len(), third.skipped), (0, 4));
}

#[test]
fn first_good_cache_wins_and_bad_caches_are_explained() {
    let f = fixture();
    let good_dir = TempDir::new().expect("tempdir");
    let good = file_cache(&good_dir);
    let k = key(1);
    push_signed(&f, good.as_ref(), &k, Compression::Zstd);
    // A cache signed by an unknown key and an empty one, listed before the good one.
    let other_dir = TempDir::new().expect("tempdir");
    let other = file_cache(&other_dir);
    push_signed(&f, other.as_ref(), &key(2), Compression::Zstd);
    let empty_dir = TempDir::new().expect("tempdir");
    let empty = file_cache(&empty_dir);
    pull_and_compare(&f, &[other.clone(), empty.clone(), good], &[k.public()]);

    let dir = TempDir::new().expect("tempdir");
    let dest = open_store(dir.path());
    let e = substitute(
        std::slice::from_ref(&f.top),
        &[other, empty],
        &[k.public()],
        &dest,
    )
    .expect_err("no good cache");
    let msg = e.to_string();
    assert!(msg.contains("no valid signature by a trusted key"), "{msg}");
    assert!(msg.contains("does not have it"), "{msg}");
    assert!(!dest.is_valid(&f.top).expect("query"));
}

#[test]
fn query_substitutable_names_only_trusted_offers() {
    let f = fixture();
    let good_dir = TempDir::new().expect("tempdir");
    let good = file_cache(&good_dir);
    let k = key(1);
    push_signed(&f, good.as_ref(), &k, Compression::Zstd);
    let other_dir = TempDir::new().expect("tempdir");
    let other = file_cache(&other_dir);
    push_signed(&f, other.as_ref(), &key(2), Compression::Zstd);
    let missing =
        StorePath::from_base_name("00000000000000000000000000000000-missing").expect("valid path");
    let asked = [f.top.clone(), f.dep.clone(), missing.clone()];
    let found = cache::query_substitutable(
        &nix_dir(),
        &asked,
        &[other.clone(), good.clone()],
        &[k.public()],
    );
    assert_eq!(
        found.keys().cloned().collect::<Vec<_>>(),
        {
            let mut v = vec![f.top.clone(), f.dep.clone()];
            v.sort();
            v
        },
        "only what a trusted key signed, never the missing path"
    );
    assert!(found.values().all(|u| u == good.url()), "{found:?}");
    // Nothing was fetched: a query registers nothing anywhere.
    assert!(
        cache::query_substitutable(&nix_dir(), &asked, &[other], &[k.public()]).is_empty(),
        "a cache signed by an untrusted key offers nothing"
    );
}

#[test]
fn paths_signed_in_the_store_carry_their_signature_to_caches() {
    let f = fixture();
    let k = key(6);
    let closure: Vec<StorePath> = f
        .store
        .closure([&f.top])
        .expect("closure")
        .into_iter()
        .collect();
    assert_eq!(cache::sign_paths(&f.store, &k, &closure).expect("sign"), 4);
    // Signing again adds nothing.
    assert_eq!(cache::sign_paths(&f.store, &k, &closure).expect("sign"), 0);
    let info = f.store.path_info(&f.built).expect("query").expect("valid");
    assert_eq!(info.signatures.len(), 1);
    assert_eq!(info.references, [f.dep.clone()].into(), "references kept");
    // Pushed without a key, the store's own signature makes the paths trusted.
    let dir = TempDir::new().expect("tempdir");
    let cache = file_cache(&dir);
    push(
        &f.store,
        cache.as_ref(),
        std::slice::from_ref(&f.top),
        &PushOptions::default(),
    )
    .expect("push");
    pull_and_compare(&f, &[cache], &[k.public()]);
}

// ---- tampering ------------------------------------------------------------

/// A fresh signed, uncompressed cache of the fixture, and the path of the
/// narinfo and NAR of `f.dep` in it.
fn tamper_setup(f: &Fixture) -> (TempDir, Arc<dyn BinaryCache>, PathBuf, PathBuf) {
    let dir = TempDir::new().expect("tempdir");
    let cache = file_cache(&dir);
    push_signed(f, cache.as_ref(), &key(1), Compression::None);
    let root = dir.path().join("cache");
    let ni = root.join(format!("{}.narinfo", f.dep.hash_part()));
    let info = NarInfo::parse(&nix_dir(), &fs::read(&ni).expect("read")).expect("parses");
    let nar = root.join(&info.url);
    (dir, cache, ni, nar)
}

/// Substituting `f.top` fails with a message containing `needle`, and nothing is registered.
fn refused(
    f: &Fixture,
    cache: Arc<dyn BinaryCache>,
    keys: &[PublicKey],
    needle: &str,
) -> SubstituteError {
    let dir = TempDir::new().expect("tempdir");
    let dest = open_store(dir.path());
    let e = substitute(std::slice::from_ref(&f.top), &[cache], keys, &dest)
        .expect_err("tampering must be refused");
    assert!(
        e.to_string().contains(needle),
        "expected {needle:?} in: {e}"
    );
    assert!(!dest.is_valid(&f.dep).expect("query"), "nothing registered");
    assert!(!dest.is_valid(&f.top).expect("query"), "nothing registered");
    // No stray objects either: the store directory holds only what is valid.
    let valid: BTreeSet<String> = dest
        .valid_paths()
        .expect("list")
        .iter()
        .map(|p| p.to_string())
        .collect();
    for entry in fs::read_dir(dest.real_store_dir()).expect("list") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with('.') || valid.contains(&name),
            "stray {name} in store"
        );
    }
    e
}

fn edit_line(path: &Path, key: &str, new_value: &str) {
    let text = fs::read_to_string(path).expect("read");
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key}:")) {
                format!("{key}: {new_value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(out, text, "{key} line present");
    fs::write(path, out).expect("write");
}

#[test]
fn tampered_nar_bytes_are_refused() {
    let f = fixture();
    let (_d, cache, _ni, nar) = tamper_setup(&f);
    let mut bytes = fs::read(&nar).expect("read");
    let pos = bytes
        .windows(10)
        .position(|w| w == b"dependency")
        .expect("contents in NAR");
    bytes[pos] = b'D';
    fs::write(&nar, bytes).expect("write");
    refused(&f, cache, &[key(1).public()], "hash");
}

#[test]
fn tampered_narinfo_fields_are_refused() {
    let f = fixture();
    let other_hash = HashAlgo::Sha256.digest(b"other");
    let edits: [(&str, String); 4] = [
        (
            "NarHash",
            other_hash.to_typed(b8g_store::format::hash::Encoding::Nix32),
        ),
        ("NarSize", "121".into()),
        ("References", f.tree.to_string()),
        (
            "Deriver",
            "00000000000000000000000000000000-evil.drv".into(),
        ),
    ];
    for (field, value) in edits {
        let (_d, cache, ni, _nar) = tamper_setup(&f);
        if field == "Deriver" {
            // Not covered by the signature (as in Nix) and harmless: it is only informative.
            let mut t = fs::read_to_string(&ni).expect("read");
            t.push_str(&format!("Deriver: {value}\n"));
            fs::write(&ni, t).expect("write");
            continue;
        }
        edit_line(&ni, field, &value);
        refused(
            &f,
            cache,
            &[key(1).public()],
            "no valid signature by a trusted key",
        );
    }
}

#[test]
fn untrusted_or_missing_signatures_are_refused() {
    let f = fixture();
    let (_d, cache, _ni, _nar) = tamper_setup(&f);
    refused(
        &f,
        cache.clone(),
        &[key(9).public()],
        "no valid signature by a trusted key (signed by: test-cache-1",
    );
    refused(&f, cache, &[], "no valid signature by a trusted key");

    let (_d, cache, ni, _nar) = tamper_setup(&f);
    let text: String = fs::read_to_string(&ni)
        .expect("read")
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&ni, text).expect("write");
    refused(&f, cache, &[key(1).public()], "is not signed");
}

#[test]
fn truncated_nar_is_refused() {
    let f = fixture();
    let (_d, cache, _ni, nar) = tamper_setup(&f);
    let bytes = fs::read(&nar).expect("read");
    fs::write(&nar, &bytes[..bytes.len() - 20]).expect("write");
    refused(&f, cache, &[key(1).public()], "dep.txt");
}

/// The NAR strings of a directory with one entry named `name` holding a file.
fn nar_with_entry(name: &[u8]) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
        out.resize(out.len().div_ceil(8) * 8, 0);
    }
    let mut n = Vec::new();
    for part in [
        &b"nix-archive-1"[..],
        b"(",
        b"type",
        b"directory",
        b"entry",
        b"(",
        b"name",
        name,
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
        b"pwned\n",
        b")",
        b")",
        b")",
    ] {
        s(&mut n, part);
    }
    n
}

#[test]
fn nar_escaping_its_root_is_refused_even_when_signed() {
    for name in [&b".."[..], b"../escaped", b"a/b"] {
        let dir = TempDir::new().expect("tempdir");
        let cache_root = dir.path().join("cache");
        fs::create_dir_all(cache_root.join("nar")).expect("mkdir");
        let nar = nar_with_entry(name);
        let mut sink = HashSink::new(HashAlgo::Sha256);
        sink.write_all(&nar).expect("hash");
        let (nar_hash, nar_size) = sink.finish();
        let path = nix_dir()
            .make_fixed_output_path(
                "evil",
                b8g_store::format::store_path::FileIngestionMethod::Recursive,
                &nar_hash,
                &[],
            )
            .expect("path");
        fs::write(cache_root.join("nar/evil.nar"), &nar).expect("write");
        let k = key(1);
        let mut info = NarInfo {
            path: path.clone(),
            url: "nar/evil.nar".into(),
            compression: Compression::None,
            file_hash: None,
            file_size: None,
            nar_hash,
            nar_size,
            references: BTreeSet::new(),
            deriver: None,
            signatures: vec![],
            ca: None,
        };
        let fp = info.fingerprint(&nix_dir()).expect("fingerprint");
        info.signatures.push(k.sign(fp.as_bytes()).to_string());
        fs::write(
            cache_root.join(format!("{}.narinfo", path.hash_part())),
            info.to_text(&nix_dir()),
        )
        .expect("write");

        let dest_dir = TempDir::new().expect("tempdir");
        let dest = open_store(&dest_dir.path().join("root"));
        let cache: Arc<dyn BinaryCache> = Arc::new(FileCache::new(&cache_root));
        let e = substitute(std::slice::from_ref(&path), &[cache], &[k.public()], &dest)
            .expect_err("escaping NAR refused");
        assert!(e.to_string().contains("invalid NAR"), "{e}");
        assert!(!dest.is_valid(&path).expect("query"));
        assert!(!dest_dir.path().join("root/nix/escaped").exists());
        assert!(!dest_dir.path().join("root/nix/store/escaped").exists());
    }
}

// ---- verify -----------------------------------------------------------------

#[test]
fn verify_finds_every_kind_of_damage() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let cache = file_cache(&dir);
    let k = key(1);
    push_signed(&f, cache.as_ref(), &k, Compression::Zstd);
    let report = verify_cache(cache.as_ref(), &nix_dir(), &[k.public()]).expect("verify");
    assert_eq!(
        (report.checked, report.problems.len()),
        (4, 0),
        "{:?}",
        report.problems
    );

    let untrusted = verify_cache(cache.as_ref(), &nix_dir(), &[key(2).public()]).expect("verify");
    assert_eq!(untrusted.problems.len(), 4);
    // Regression: a wrong key gave one identical line per path; now one summary.
    let summary = untrusted.summary();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(
        summary[0]
            .starts_with("4 of 4 paths have no valid signature by a trusted key (signed by: ")
            && summary[0].contains(k.public().name()),
        "{summary:?}"
    );

    // Damage one NAR file and one narinfo.
    let root = dir.path().join("cache");
    let tree_ni = root.join(format!("{}.narinfo", f.tree.hash_part()));
    let info = NarInfo::parse(&nix_dir(), &fs::read(&tree_ni).expect("read")).expect("parses");
    let nar = root.join(&info.url);
    let mut bytes = fs::read(&nar).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&nar, bytes).expect("write");
    edit_line(
        &root.join(format!("{}.narinfo", f.dep.hash_part())),
        "NarSize",
        "7",
    );
    let report = verify_cache(cache.as_ref(), &nix_dir(), &[k.public()]).expect("verify");
    let text: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains(f.tree.hash_part())),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(f.dep.hash_part()) && t.contains("no valid signature")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.contains(f.dep.hash_part())
            // Reading stops at the stated size: a longer NAR is not read to its end.
            && t.contains("NAR size is more than 7, narinfo says 7")),
        "{text:?}"
    );
}

// ---- HTTP -------------------------------------------------------------------

#[test]
fn http_serve_push_pull_head_range() {
    let f = fixture();
    let served_dir = TempDir::new().expect("tempdir");
    let served = Arc::new(open_store(served_dir.path()));
    let k = key(3);
    let mut opts = ServeOptions::loopback(0);
    opts.key = Some(k.clone());
    opts.push_token = Some("s3cret".into());
    opts.push_keys = vec![key(1).public()];
    let server = server::start(served.clone(), opts).expect("start server");
    assert!(server.addr().ip().is_loopback());
    let url = server.url();

    // Without the token, pushing is refused.
    let anon = HttpCache::new(&url, None);
    let e = push(
        &f.store,
        &anon,
        std::slice::from_ref(&f.top),
        &PushOptions::default(),
    )
    .expect_err("no token");
    assert!(e.to_string().contains("401"), "{e}");

    // With it, the closure lands in the served store (checked against its hashes).
    let pusher = HttpCache::new(&url, Some("s3cret".into()));
    let report = push(
        &f.store,
        &pusher,
        std::slice::from_ref(&f.top),
        &PushOptions {
            key: Some(&key(1)),
            ..PushOptions::default()
        },
    )
    .expect("push over HTTP");
    assert_eq!(report.pushed.len(), 4);
    for p in [&f.tree, &f.dep, &f.built, &f.top] {
        assert!(served.is_valid(p).expect("query"));
    }
    // The batched query sees everything now.
    let again = push(
        &f.store,
        &pusher,
        std::slice::from_ref(&f.top),
        &PushOptions::default(),
    )
    .expect("push");
    assert_eq!((again.pushed.len(), again.skipped), (0, 4));

    // Pull from the server: narinfos signed by the server's key on the way out.
    let cache: Arc<dyn BinaryCache> = Arc::new(HttpCache::new(&url, None));
    pull_and_compare(&f, std::slice::from_ref(&cache), &[k.public()]);

    // HEAD and ranges on an uncompressed view of the same NAR come from a second server.
    let mut plain = ServeOptions::loopback(0);
    plain.compression = Compression::None;
    let plain_server = server::start(served.clone(), plain).expect("start");
    let info = served.path_info(&f.tree).expect("query").expect("valid");
    let nar_url = format!(
        "{}/nar/{}-{}.nar",
        plain_server.url(),
        f.tree.hash_part(),
        info.nar_hash.to_nix32()
    );
    let agent = ureq::agent();
    let head = agent.head(&nar_url).call().expect("HEAD");
    assert_eq!(
        head.header("Content-Length"),
        Some(info.nar_size.to_string().as_str())
    );
    let whole = nar_of(&served, &f.tree);
    let ranged = agent
        .get(&nar_url)
        .set("Range", "bytes=100-199")
        .call()
        .expect("range");
    assert_eq!(ranged.status(), 206);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut ranged.into_reader(), &mut body).expect("read");
    assert_eq!(body, &whole[100..200]);
    // A range of a compressed NAR is not served (its length would have to be
    // learnt by compressing it whole, an attack pass made the server do that
    // for `bytes=0-0`): the whole file comes, as HTTP allows.
    let zurl = format!(
        "{url}/nar/{}-{}.nar.zst",
        f.tree.hash_part(),
        info.nar_hash.to_nix32()
    );
    let full = agent.get(&zurl).call().expect("GET");
    assert_eq!(full.header("Accept-Ranges"), Some("none"));
    let mut zbytes = Vec::new();
    std::io::Read::read_to_end(&mut full.into_reader(), &mut zbytes).expect("read");
    let tail = agent
        .get(&zurl)
        .set("Range", "bytes=-50")
        .call()
        .expect("range");
    assert_eq!(tail.status(), 200);
    let mut tbytes = Vec::new();
    std::io::Read::read_to_end(&mut tail.into_reader(), &mut tbytes).expect("read");
    assert_eq!(tbytes, zbytes);
    // A NAR URL with a stale NAR hash is not served.
    let stale = format!(
        "{url}/nar/{}-{}.nar.zst",
        f.tree.hash_part(),
        HashAlgo::Sha256.digest(b"x").to_nix32()
    );
    assert!(matches!(
        agent.get(&stale).call(),
        Err(ureq::Error::Status(404, _))
    ));

    // verify over HTTP uses the server's listing.
    let report = verify_cache(cache.as_ref(), &nix_dir(), &[k.public()]).expect("verify");
    assert!(
        report.checked >= 4 && report.is_ok(),
        "{:?}",
        report.problems
    );

    plain_server.stop().expect("stop");
    server.stop().expect("stop");
}

/// A bare HTTP/1.1 file server on loopback whose first answer for a NAR
/// breaks off halfway (as a dropped connection does); it counts NAR requests.
fn flaky_server(root: PathBuf) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead as _, BufReader};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let nar_requests = Arc::new(AtomicUsize::new(0));
    let counter = nar_requests.clone();
    std::thread::spawn(move || {
        // Bounded: the test makes a handful of requests.
        for conn in listener.incoming().take(50) {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let target = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_owned();
            let Ok(body) = fs::read(root.join(&target)) else {
                let _ = conn.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let mut cut = body.len();
            if target.starts_with("nar/") && counter.fetch_add(1, Ordering::SeqCst) == 0 {
                cut = body.len() / 2;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[..cut]);
        }
    });
    (url, nar_requests)
}

#[test]
fn broken_download_is_retried() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let k = key(1);
    let opts = PushOptions {
        key: Some(&k),
        closure: false,
        ..PushOptions::default()
    };
    push(
        &f.store,
        &FileCache::new(dir.path().join("cache")),
        std::slice::from_ref(&f.dep),
        &opts,
    )
    .expect("push");
    let (url, nar_requests) = flaky_server(dir.path().join("cache"));
    let dest_dir = TempDir::new().expect("tempdir");
    let dest = open_store(dest_dir.path());
    let cache: Arc<dyn BinaryCache> = Arc::new(HttpCache::new(&url, None));
    let report = substitute(std::slice::from_ref(&f.dep), &[cache], &[k.public()], &dest)
        .expect("second try succeeds");
    assert_eq!(report.substituted.len(), 1);
    assert_eq!(
        nar_requests.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one broken, one good download"
    );
    assert_eq!(nar_of(&f.store, &f.dep), nar_of(&dest, &f.dep));
}

// ---- Nix interop ------------------------------------------------------------

fn nix_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` not found: install nix-bin (Nix 2.8) to run the cache interop tests")
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `nix` with the experimental command enabled and no network substituters.
fn nix(args: &[&str]) -> Command {
    let mut c = Command::new(nix_tool("nix"));
    c.args([
        "--extra-experimental-features",
        "nix-command",
        "--option",
        "substituters",
        "",
    ])
    .args(args);
    c
}

/// Copies `f.top`'s closure from `from` into a throw-away Nix store with
/// `nix copy`, and has Nix check every path's contents.
fn nix_copies_and_verifies(f: &Fixture, from: &str, public: &PublicKey) {
    let nix_root = TempDir::new().expect("tempdir");
    let to = format!("local?root={}", nix_root.path().display());
    let top = f.store.print_path(&f.top);
    let pk = public.to_string();
    run(&mut nix(&[
        "copy",
        "--from",
        from,
        "--to",
        &to,
        "--option",
        "trusted-public-keys",
        &pk,
        &top,
    ]));
    let listed = run(Command::new(nix_tool("nix-store")).args(["--store", &to, "-qR", &top]));
    for p in [&f.tree, &f.dep, &f.built, &f.top] {
        assert!(
            listed.contains(&f.store.print_path(p)),
            "{p} copied by nix: {listed}"
        );
    }
    run(Command::new(nix_tool("nix-store")).args(["--store", &to, "--verify", "--check-contents"]));
    // Signature checking is real: a key Nix does not trust makes the copy fail.
    let nix_root2 = TempDir::new().expect("tempdir");
    let to2 = format!("local?root={}", nix_root2.path().display());
    let out = nix(&[
        "copy",
        "--from",
        from,
        "--to",
        &to2,
        "--option",
        "trusted-public-keys",
        &key(8).public().to_string(),
        &top,
    ])
    .output()
    .expect("run nix");
    assert!(
        !out.status.success(),
        "nix accepted a path signed by an untrusted key"
    );
}

#[test]
fn nix_copies_from_our_file_cache() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let cache = file_cache(&dir);
    let k = key(4);
    push_signed(&f, cache.as_ref(), &k, Compression::Zstd);
    nix_copies_and_verifies(
        &f,
        &format!("file://{}", dir.path().join("cache").display()),
        &k.public(),
    );
    let dir_xz = TempDir::new().expect("tempdir");
    let cache_xz = file_cache(&dir_xz);
    push_signed(&f, cache_xz.as_ref(), &k, Compression::Xz);
    nix_copies_and_verifies(
        &f,
        &format!("file://{}", dir_xz.path().join("cache").display()),
        &k.public(),
    );
}

#[test]
fn nix_copies_from_our_server() {
    let f = fixture();
    let k = key(5);
    let mut opts = ServeOptions::loopback(0);
    opts.key = Some(k.clone());
    let server = server::start(f.store.clone(), opts).expect("start");
    nix_copies_and_verifies(&f, &server.url(), &k.public());
    server.stop().expect("stop");
}

#[test]
fn nix_copy_pushes_to_our_server() {
    let f = fixture();
    let dir = TempDir::new().expect("tempdir");
    let served = Arc::new(open_store(&dir.path().join("served")));
    let mut opts = ServeOptions::loopback(0);
    let k = key(7);
    opts.push_token = Some("nix-push-token".into());
    // Nix pushes the signatures the paths carry in its store.
    opts.push_keys = vec![k.public()];
    let server = server::start(served.clone(), opts).expect("start");
    // Put the closure into a Nix store first, then let Nix push it to us.
    let nix_root = dir.path().join("nixroot");
    let nix_store = format!("local?root={}", nix_root.display());
    let cache = file_cache(&dir);
    push_signed(&f, cache.as_ref(), &k, Compression::Zstd);
    let top = f.store.print_path(&f.top);
    let from = format!("file://{}", dir.path().join("cache").display());
    run(&mut nix(&[
        "copy",
        "--from",
        &from,
        "--to",
        &nix_store,
        "--option",
        "trusted-public-keys",
        &k.public().to_string(),
        &top,
    ]));
    // Without the token Nix is refused, and nothing lands.
    let out = nix(&["copy", "--store", &nix_store, "--to", &server.url(), &top])
        .output()
        .expect("run nix");
    assert!(!out.status.success(), "nix pushed without the token");
    assert!(!served.is_valid(&f.dep).expect("query"));
    let netrc = dir.path().join("netrc");
    fs::write(
        &netrc,
        format!(
            "machine {} login b8g password nix-push-token\n",
            server.addr().ip()
        ),
    )
    .expect("netrc");
    run(&mut nix(&[
        "copy",
        "--store",
        &nix_store,
        "--option",
        "netrc-file",
        &netrc.to_string_lossy(),
        "--to",
        &server.url(),
        &top,
    ]));
    for p in [&f.tree, &f.dep, &f.built, &f.top] {
        assert!(served.is_valid(p).expect("query"), "{p} pushed by nix");
        assert_eq!(nar_of(&f.store, p), nar_of(&served, p));
    }
    server.stop().expect("stop");
}

#[test]
fn we_substitute_what_nix_copy_pushed() {
    let dir = TempDir::new().expect("tempdir");
    let d = dir.path();
    run(Command::new(nix_tool("nix-store"))
        .args(["--generate-binary-cache-key", "nix-made-1"])
        .arg(d.join("sk"))
        .arg(d.join("pk")));
    let public = PublicKey::parse(&fs::read_to_string(d.join("pk")).expect("pk"))
        .expect("Nix's public key parses");
    // Build a closure in a throw-away Nix store: a tree, and a derivation referring to it.
    fs::create_dir_all(d.join("src/sub")).expect("mkdir");
    fs::write(d.join("src/a.txt"), "hello from nix\n").expect("write");
    fs::write(d.join("src/sub/x"), "x\n").expect("write");
    std::os::unix::fs::symlink("../a.txt", d.join("src/sub/link")).expect("symlink");
    let nix_store = format!("local?root={}", d.join("nixroot").display());
    let expr = format!(
        "derivation {{ name = \"thing\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; src = {}; }}",
        d.join("src").display()
    );
    let drv = run(Command::new(nix_tool("nix-instantiate"))
        .args(["--store", &nix_store, "--expr", &expr])
        .env("NIX_REMOTE", &nix_store));
    let drv = drv.trim().to_owned();
    for compression in ["zstd", "xz", "none"] {
        let cache_dir = d.join(format!("cache-{compression}"));
        let to = format!(
            "file://{}?secret-key={}&compression={compression}",
            cache_dir.display(),
            d.join("sk").display()
        );
        run(&mut nix(&[
            "copy",
            "--store",
            &nix_store,
            "--derivation",
            "--to",
            &to,
            &drv,
        ]));

        let dest_dir = TempDir::new().expect("tempdir");
        let dest = open_store(dest_dir.path());
        let drv_path = dest.parse_path(&drv).expect("drv path");
        let cache: Arc<dyn BinaryCache> = Arc::new(FileCache::new(&cache_dir));
        let report = substitute(
            std::slice::from_ref(&drv_path),
            std::slice::from_ref(&cache),
            std::slice::from_ref(&public),
            &dest,
        )
        .expect("substitute from Nix's cache");
        assert_eq!(
            report.substituted.len(),
            2,
            "{compression}: the .drv and its source"
        );
        // Our copy has the NAR hash Nix recorded.
        let real = d.join("nixroot").join(drv.trim_start_matches('/'));
        let dumped = Command::new(nix_tool("nix-store"))
            .arg("--dump")
            .arg(&real)
            .output()
            .expect("nix-store --dump");
        assert!(dumped.status.success());
        assert_eq!(nar_of(&dest, &drv_path), dumped.stdout);
        let report = verify_cache(cache.as_ref(), &nix_dir(), std::slice::from_ref(&public))
            .expect("verify");
        assert!(
            report.is_ok() && report.checked == 2,
            "{:?}",
            report.problems
        );
    }
}

/// A push token lets a client upload, not vouch: a narinfo that no push key
/// signed is refused (the second attack pass published arbitrary content
/// under a chosen input-addressed name, which the server then signed).
#[test]
fn pushes_need_a_signature_by_a_push_key() {
    let f = fixture();
    let served_dir = TempDir::new().expect("tempdir");
    let served = Arc::new(open_store(served_dir.path()));

    // A token alone is a configuration error.
    let mut opts = ServeOptions::loopback(0);
    opts.push_token = Some("s3cret".into());
    let Err(e) = server::start(served.clone(), opts) else {
        panic!("a push token without push keys was accepted");
    };
    assert!(e.to_string().contains("push key"), "{e}");

    let mut opts = ServeOptions::loopback(0);
    opts.key = Some(key(3));
    opts.push_token = Some("s3cret".into());
    opts.push_keys = vec![key(1).public()];
    let server = server::start(served.clone(), opts).expect("start server");
    let pusher = HttpCache::new(&server.url(), Some("s3cret".into()));
    for signer in [None, Some(key(2))] {
        let e = push(
            &f.store,
            &pusher,
            std::slice::from_ref(&f.top),
            &PushOptions {
                key: signer.as_ref(),
                ..PushOptions::default()
            },
        )
        .expect_err("an untrusted signer is refused");
        let msg = e.to_string();
        assert!(
            msg.contains("403") && msg.contains("not signed by a key this cache accepts"),
            "{msg}"
        );
        assert!(
            served.valid_paths().expect("list").is_empty(),
            "nothing registered"
        );
    }
    // The trusted key gets in.
    push(
        &f.store,
        &pusher,
        std::slice::from_ref(&f.top),
        &PushOptions {
            key: Some(&key(1)),
            ..PushOptions::default()
        },
    )
    .expect("push signed by the push key");
    assert!(served.is_valid(&f.top).expect("query"));
    server.stop().expect("stop");
}
