//! Where a pinned seed comes from when Debian's archive no longer serves it:
//! a b8g binary cache, then Debian's snapshot service (served here from a local
//! HTTP server with the service's URL layout), and otherwise a clear failure
//! naming the command that refreshes the pin. Wrong answers are refused and
//! register nothing.
//!
//! The pin names a package apt has never heard of, so `apt-get download`
//! fails at once without the network, as it does for a vanished version.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use b8g_builder::builtin::{Builtins, FetchDeb};
use b8g_builder::glue::EvalSession;
use b8g_builder::realise::{realise, RealiseOptions, Substituters};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::NoProgress;
use b8g_store::cache::{self, BinaryCache, PushOptions};
use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::{FileIngestionMethod, StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};
use sha1::Digest as _;

const PACKAGE: &str = "b8g-vanished-seed";
const VERSION: &str = "1:1.0-1+b8g1";

fn recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recipes")
        .canonicalize()
        .expect("recipes/ exists")
}

fn open_store(root: &Path) -> LocalStore {
    LocalStore::open(&StoreConfig {
        store_dir: StoreDir::new("/b8g/store").expect("store dir"),
        state_dir: "/b8g/var/b8g".into(),
        root: Some(root.to_owned()),
    })
    .expect("open store")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The bytes the pin stands for (the builder only downloads; it need not be a real .deb).
fn deb_bytes() -> Vec<u8> {
    b"!<arch>\nnot really a package, but pinned bytes all the same\n".repeat(50)
}

/// Writes the derivation `expr` evaluates to into the store under `root`.
fn instantiate_expr(root: &Path, expr: String) -> StorePath {
    let store = open_store(root);
    let drvs = EvalSession::writing(store)
        .base_dir(&recipes())
        .instantiate_expr(expr)
        .expect("evaluates");
    open_store(root).parse_path(&drvs[0]).expect("drv path")
}

/// The attack pass's finding: `package = "--version"` reached apt-get as an
/// option (apt-get runs as root with the network), and a derivation that is
/// not fixed-output could name the fetcher to get the network at all.
#[test]
fn fetch_deb_refuses_option_like_pins_and_non_fixed_output_derivations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let fod = |package: &str, version: &str| {
        format!(
            "derivation {{ name = \"x.deb\"; system = \"builtin\"; builder = \"builtin:b8g-fetch-deb\"; \
             package = \"{package}\"; version = \"{version}\"; outputHashMode = \"flat\"; \
             outputHashAlgo = \"sha256\"; outputHash = \"{}\"; }}",
            "0".repeat(64)
        )
    };
    for (expr, why) in [
        (fod("--version", "x"), "invalid Debian package pin"),
        (fod("-oDebug::NoLocking", "1"), "invalid Debian package pin"),
        (fod("make", "-1"), "invalid Debian package pin"),
        (
            "derivation { name = \"x\"; system = \"builtin\"; builder = \"builtin:b8g-fetch-deb\"; \
             package = \"make\"; version = \"4.3-4.1\"; }"
                .to_owned(),
            "only fixed-output derivations",
        ),
    ] {
        let drv = instantiate_expr(dir.path(), expr.clone());
        let err = build(&store, &drv, &builtins_with(None), Substituters::default())
            .expect_err(&expr);
        assert!(err.contains(why), "{expr}: {err}");
        assert!(!err.contains("not understood"), "apt parsed an option: {err}");
    }
}

/// Writes the derivation `recipes/bootstrap`'s `fetchDeb` makes for the pin
/// into the store under `root`; returns the `.drv` and its output path.
fn instantiate(root: &Path, sha256: &str) -> (StorePath, StorePath) {
    let expr = format!(
        "(import {}/bootstrap {{ b8gTree = null; }}).fetchDeb \
         {{ package = \"{PACKAGE}\"; version = \"{VERSION}\"; sha256 = \"{sha256}\"; }}",
        recipes().display()
    );
    let store = open_store(root);
    let drvs = EvalSession::writing(store)
        .base_dir(&recipes())
        .instantiate_expr(expr)
        .expect("evaluates");
    let store = open_store(root);
    let drv = store.parse_path(&drvs[0]).expect("drv path");
    // Fixed-output: the path follows from the name and the hash alone.
    let hash = Hash::parse_any(sha256, Some(HashAlgo::Sha256)).expect("hash");
    let out = store
        .store_dir()
        .make_fixed_output_path(
            &format!("{PACKAGE}.deb"),
            FileIngestionMethod::Flat,
            &hash,
            &[],
        )
        .expect("path");
    (drv, out)
}

fn builtins_with(snapshot: Option<&str>) -> Builtins {
    let mut b = Builtins::standard();
    b.register(Box::new(match snapshot {
        Some(url) => FetchDeb::with_snapshot(url),
        None => FetchDeb::default(),
    }));
    b
}

fn build(
    store: &LocalStore,
    drv: &StorePath,
    builtins: &Builtins,
    substituters: Substituters,
) -> Result<(), String> {
    let opts = RealiseOptions {
        substituters,
        ..Default::default()
    };
    let cancel = CancelToken::new().expect("eventfd");
    realise(
        store,
        std::slice::from_ref(drv),
        &opts,
        builtins,
        &NoProgress,
        &cancel,
    )
    .map(|_| ())
    .map_err(|e| format!("{e:#}"))
}

/// A server with the snapshot service's layout for one package version,
/// serving `served` as the file; records the request paths.
struct Snapshot {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve_snapshot(listed: &[u8], served: Vec<u8>) -> Snapshot {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let sha1 = hex::encode(sha1::Sha1::digest(listed));
    let bare = VERSION.split_once(':').map_or(VERSION, |(_, r)| r);
    let listing = format!(
        r#"{{"binary":"{PACKAGE}","binary_version":"{VERSION}","result":[{{"architecture":"amd64","hash":"{sha1}"}}],"fileinfo":{{"{sha1}":[{{"archive_name":"debian","name":"{PACKAGE}_{bare}_amd64.deb","path":"/pool/main/b","size":{}}}]}}}}"#,
        listed.len()
    );
    let mut routes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    routes.insert(
        "/mr/binary/b8g-vanished-seed/1%3A1.0-1%2Bb8g1/binfiles?fileinfo=1".into(),
        listing.into_bytes(),
    );
    routes.insert(format!("/file/{sha1}"), served);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            seen.lock().expect("lock").push(path.clone());
            let (status, body) = match routes.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    Snapshot { url, requests }
}

#[test]
fn vanished_pin_is_fetched_from_the_snapshot_service_by_package_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let deb = deb_bytes();
    let (drv, out) = instantiate(dir.path(), &sha256_hex(&deb));
    let snap = serve_snapshot(&deb, deb.clone());
    build(
        &store,
        &drv,
        &builtins_with(Some(&snap.url)),
        Substituters::default(),
    )
    .expect("the snapshot service serves the pin");
    assert!(store.is_valid(&out).expect("query"));
    assert_eq!(std::fs::read(store.real_path(&out)).expect("read"), deb);
    let requests = snap.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[1].starts_with("/file/"), "{requests:?}");
}

#[test]
fn snapshot_answer_with_the_wrong_sha256_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let deb = deb_bytes();
    let (drv, out) = instantiate(dir.path(), &sha256_hex(&deb));
    // Same size, other bytes: only the hash can tell.
    let mut evil = deb.clone();
    evil[100] ^= 1;
    let snap = serve_snapshot(&deb, evil);
    let err = build(
        &store,
        &drv,
        &builtins_with(Some(&snap.url)),
        Substituters::default(),
    )
    .expect_err("a wrong answer must not be accepted");
    assert!(err.contains("is not the pinned"), "{err}");
    assert!(!store.is_valid(&out).expect("query"));
    assert!(!store.real_path(&out).exists(), "nothing left at {out:?}");
}

#[test]
fn snapshot_answer_larger_than_listed_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let deb = deb_bytes();
    let (drv, out) = instantiate(dir.path(), &sha256_hex(&deb));
    let mut big = deb.clone();
    big.extend(std::iter::repeat_n(0u8, 1 << 20));
    let snap = serve_snapshot(&deb, big);
    let err = build(
        &store,
        &drv,
        &builtins_with(Some(&snap.url)),
        Substituters::default(),
    )
    .expect_err("more bytes than listed");
    assert!(err.contains("exceeds"), "{err}");
    assert!(!store.is_valid(&out).expect("query"));
}

#[test]
fn vanished_pin_without_any_source_fails_naming_the_lock_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(dir.path());
    let (drv, out) = instantiate(dir.path(), &sha256_hex(&deb_bytes()));
    let err = build(&store, &drv, &builtins_with(None), Substituters::default())
        .expect_err("no source serves it");
    assert!(
        err.contains(&format!("b8g bootstrap lock --only {PACKAGE}")),
        "{err}"
    );
    assert!(err.contains("B8G_DEBIAN_SNAPSHOT_URL"), "{err}");
    assert!(!store.is_valid(&out).expect("query"));
}

/// A signed `file://` cache holding the pin's fixed-output path, made from
/// another store; returns the cache directory and its key.
fn seed_cache(dir: &Path, deb: &[u8]) -> (PathBuf, SecretKey, StorePath) {
    let other = open_store(&dir.join("other"));
    let file = dir.join(format!("{PACKAGE}.deb"));
    std::fs::write(&file, deb).expect("write deb");
    let path = other
        .add_flat(&file, &format!("{PACKAGE}.deb"))
        .expect("add");
    let key = SecretKey::from_seed("seeds-test-1", &[7; 32]).expect("key");
    let cache_dir = dir.join("cache");
    let cache = cache::open(&format!("file://{}", cache_dir.display()), None).expect("cache");
    cache::push(
        &other,
        cache.as_ref(),
        std::slice::from_ref(&path),
        &PushOptions {
            key: Some(&key),
            ..Default::default()
        },
    )
    .expect("push");
    (cache_dir, key, path)
}

fn substituters(cache_dir: &Path, key: &SecretKey) -> Substituters {
    let cache: Arc<dyn BinaryCache> = Arc::from(
        cache::open(&format!("file://{}", cache_dir.display()), None).expect("open cache"),
    );
    Substituters::new(vec![cache], vec![key.public()])
}

#[test]
fn vanished_pin_is_substituted_from_a_b8g_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deb = deb_bytes();
    let (cache_dir, key, cached) = seed_cache(dir.path(), &deb);
    let store = open_store(&dir.path().join("fresh"));
    let (drv, out) = instantiate(&dir.path().join("fresh"), &sha256_hex(&deb));
    assert_eq!(
        out, cached,
        "the seed's path depends only on its name and hash"
    );
    build(
        &store,
        &drv,
        &builtins_with(None),
        substituters(&cache_dir, &key),
    )
    .expect("the cache serves the pin");
    assert!(store.is_valid(&out).expect("query"));
    assert_eq!(std::fs::read(store.real_path(&out)).expect("read"), deb);
}

#[test]
fn tampered_cache_answer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deb = deb_bytes();
    let (cache_dir, key, _) = seed_cache(dir.path(), &deb);
    // Replace the NAR with one of other contents (of the same size).
    let nar_dir = cache_dir.join("nar");
    let nar = std::fs::read_dir(&nar_dir)
        .expect("nar dir")
        .flatten()
        .map(|e| e.path())
        .next()
        .expect("one NAR");
    let mut evil_deb = deb.clone();
    evil_deb[10] ^= 1;
    let mut w = b8g_store::format::nar::NarWriter::new(Vec::new());
    w.file(None, false, evil_deb.len() as u64, &mut &evil_deb[..])
        .expect("nar");
    let evil_nar = w.finish().expect("nar");
    let compressed = zstd::encode_all(&evil_nar[..], 1).expect("zstd");
    std::fs::write(&nar, compressed).expect("replace NAR");
    let store = open_store(&dir.path().join("fresh"));
    let (drv, out) = instantiate(&dir.path().join("fresh"), &sha256_hex(&deb));
    let err = build(
        &store,
        &drv,
        &builtins_with(None),
        substituters(&cache_dir, &key),
    )
    .expect_err("a tampered NAR must not be accepted");
    // The cache's answer was refused, so the realiser went on to the builder.
    assert!(err.contains("cannot download the pinned package"), "{err}");
    assert!(!store.is_valid(&out).expect("query"), "{err}");
    assert!(!store.real_path(&out).exists(), "{err}");
}
