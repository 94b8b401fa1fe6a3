//! Bounded reads from caches: a NAR that decompresses to more than its
//! signed NarSize (a zstd bomb) is refused after at most NarSize bytes were
//! written, over `file://` and over HTTP; a narinfo longer than the metadata
//! cap is refused at the cap. Each attack is carried out for real.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufRead as _, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use b8g_store::cache::file::FileCache;
use b8g_store::cache::http::HttpCache;
use b8g_store::cache::server::{self, ServeOptions};
use b8g_store::cache::{substitute, BinaryCache, CacheError, METADATA_LIMIT};
use b8g_store::format::hash::{HashAlgo, HashSink};
use b8g_store::format::narinfo::{Compression, NarInfo};
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};
use tempfile::TempDir;

fn nix_dir() -> StoreDir {
    StoreDir::new("/nix/store").expect("valid store dir")
}

fn open_store(root: &Path) -> LocalStore {
    let config = StoreConfig {
        store_dir: nix_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(root.to_owned()),
    };
    LocalStore::open(&config).expect("open store")
}

fn key() -> SecretKey {
    SecretKey::from_seed("test-bounds-1", &[9; 32]).expect("valid key")
}

/// What the narinfo claims the NAR holds.
const CLAIMED_NAR_SIZE: u64 = 1 << 20;
/// What the bomb really expands to.
const BOMB_FILE_SIZE: u64 = 256 << 20;

/// A NAR string (length, bytes, padding).
fn nar_str(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
    out.resize(out.len().div_ceil(8) * 8, 0);
}

/// Writes a zstd-compressed NAR of one regular file of `size` bytes of 'a'
/// to `out` without holding it in memory; returns the compressed size.
fn write_bomb(out: &Path, size: u64) -> u64 {
    let f = fs::File::create(out).expect("create bomb");
    let mut enc = zstd::Encoder::new(io::BufWriter::new(f), 1).expect("encoder");
    let mut head = Vec::new();
    for s in [
        &b"nix-archive-1"[..],
        b"(",
        b"type",
        b"regular",
        b"contents",
    ] {
        nar_str(&mut head, s);
    }
    head.extend_from_slice(&size.to_le_bytes());
    enc.write_all(&head).expect("write");
    // Not zeros: a store that wrote sparse files would hide the damage.
    let chunk = vec![b'a'; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        enc.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    let mut tail = Vec::new();
    nar_str(&mut tail, b")");
    enc.write_all(&tail).expect("write");
    enc.finish()
        .expect("finish")
        .into_inner()
        .map_err(|e| e.into_error())
        .expect("flush");
    fs::metadata(out).expect("stat").len()
}

/// Signs `info` with [`key`] and writes it, with a `nix-cache-info`, into the cache `dir`.
fn write_signed_narinfo(dir: &Path, mut info: NarInfo) {
    let fp = info.fingerprint(&nix_dir()).expect("fingerprint");
    info.signatures.push(key().sign(fp.as_bytes()).to_string());
    fs::write(
        dir.join(format!("{}.narinfo", info.path.hash_part())),
        info.to_text(&nix_dir()),
    )
    .expect("write narinfo");
    fs::write(dir.join("nix-cache-info"), "StoreDir: /nix/store\n").expect("write");
}

/// A cache directory holding a signed narinfo that claims
/// [`CLAIMED_NAR_SIZE`] for a NAR file that expands to [`BOMB_FILE_SIZE`].
fn bomb_cache(dir: &Path) -> StorePath {
    fs::create_dir_all(dir.join("nar")).expect("mkdir");
    let file_size = write_bomb(&dir.join("nar/bomb.nar.zst"), BOMB_FILE_SIZE);
    assert!(
        file_size < 1 << 20,
        "the bomb is small: {file_size} bytes for {BOMB_FILE_SIZE}"
    );
    // The hash of anything: the refusal must come before the hash is known.
    let mut sink = HashSink::new(HashAlgo::Sha256);
    sink.write_all(b"whatever").expect("hash");
    let (nar_hash, _) = sink.finish();
    let path = StorePath::from_parts([5; 20], "bomb-1.0").expect("valid");
    let info = NarInfo {
        path: path.clone(),
        url: "nar/bomb.nar.zst".into(),
        compression: Compression::Zstd,
        file_hash: None,
        file_size: Some(file_size),
        nar_hash,
        nar_size: CLAIMED_NAR_SIZE,
        references: BTreeSet::new(),
        deriver: None,
        signatures: vec![],
        ca: None,
    };
    write_signed_narinfo(dir, info);
    path
}

/// Apparent size of every file under `dir` (what was written, holes or not).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(meta) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        total += if meta.is_dir() {
            bytes_under(&e.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Runs `f` while a thread watches the bytes under `dir`; returns `f`'s
/// result and the most it saw.
fn watching_disk<T>(dir: &Path, f: impl FnOnce() -> T) -> (T, u64) {
    let stop = AtomicBool::new(false);
    let max = AtomicU64::new(0);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                max.fetch_max(bytes_under(dir), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let out = f();
        stop.store(true, Ordering::Relaxed);
        out
    });
    max.fetch_max(bytes_under(dir), Ordering::Relaxed);
    (out, max.into_inner())
}

/// Pulls the bomb from `cache` into a fresh store and checks it is refused
/// as too long, that at most about NarSize bytes were ever on disk, and that
/// nothing was registered or left behind.
fn pull_bomb_refused(cache: Arc<dyn BinaryCache>, path: &StorePath) {
    let dest_dir = TempDir::new().expect("tempdir");
    let root = dest_dir.path().join("root");
    let dest = open_store(&root);
    let before = bytes_under(&root);
    let (result, most) = watching_disk(&root, || {
        substitute(
            std::slice::from_ref(path),
            &[cache],
            &[key().public()],
            &dest,
        )
    });
    // The database and the NAR's first NarSize bytes, never the bomb.
    assert!(
        most <= before + CLAIMED_NAR_SIZE + (1 << 20),
        "at most about NarSize written: saw {most} bytes (store held {before} before)"
    );
    let e = result.expect_err("a NAR longer than its NarSize is refused");
    let msg = e.to_string();
    assert!(
        msg.contains("size") && msg.contains(&format!("more than {CLAIMED_NAR_SIZE}")),
        "clear error: {msg}"
    );
    assert!(!dest.is_valid(path).expect("query"), "nothing registered");
    assert!(dest.valid_paths().expect("list").is_empty());
    let left: Vec<String> = fs::read_dir(dest.real_store_dir())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".links")
        .collect();
    assert!(left.is_empty(), "nothing left in the store: {left:?}");
}

#[test]
fn zstd_bomb_over_file_cache_stops_at_nar_size() {
    let dir = TempDir::new().expect("tempdir");
    let path = bomb_cache(dir.path());
    let cache: Arc<dyn BinaryCache> = Arc::new(FileCache::new(dir.path()));
    pull_bomb_refused(cache, &path);
}

#[test]
fn zstd_bomb_over_http_stops_at_nar_size() {
    let dir = TempDir::new().expect("tempdir");
    let path = bomb_cache(dir.path());
    let url = static_server(dir.path().to_owned());
    let cache: Arc<dyn BinaryCache> = Arc::new(HttpCache::new(&url, None));
    pull_bomb_refused(cache, &path);
}

#[test]
fn zstd_bomb_pushed_to_the_server_stops_at_nar_size() {
    let src = TempDir::new().expect("tempdir");
    let path = bomb_cache(src.path());
    let served_dir = TempDir::new().expect("tempdir");
    let root = served_dir.path().join("root");
    let served = Arc::new(open_store(&root));
    let mut opts = ServeOptions::loopback(0);
    opts.push_token = Some("s3cret".into());
    opts.push_keys = vec![key().public()];
    let server = server::start(served.clone(), opts).expect("start server");
    let pusher = HttpCache::new(&server.url(), Some("s3cret".into()));
    let bomb = fs::read(src.path().join("nar/bomb.nar.zst")).expect("read");
    pusher
        .put(
            "nar/bomb.nar.zst",
            &mut io::Cursor::new(&bomb),
            bomb.len() as u64,
            "application/x-nix-nar",
        )
        .expect("a small NAR file is accepted for staging");
    let narinfo = fs::read(src.path().join(format!("{}.narinfo", path.hash_part()))).expect("read");
    let before = bytes_under(&root);
    let (result, most) = watching_disk(&root, || {
        pusher.put(
            &format!("{}.narinfo", path.hash_part()),
            &mut io::Cursor::new(&narinfo),
            narinfo.len() as u64,
            "text/x-nix-narinfo",
        )
    });
    match result {
        Err(CacheError::Status { status: 400, .. }) => {}
        other => panic!("expected the server to refuse the import, got {other:?}"),
    }
    assert!(
        most <= before + CLAIMED_NAR_SIZE + (1 << 20),
        "at most about NarSize written: saw {most} bytes (store held {before} before)"
    );
    assert!(
        !served.is_valid(&path).expect("query"),
        "nothing registered"
    );
    assert!(served.valid_paths().expect("list").is_empty());
    assert_eq!(
        fs::read_dir(served.state_dir().join("cache-uploads"))
            .expect("list")
            .count(),
        0,
        "the staged NAR is gone"
    );
    server.stop().expect("stop");
}

#[test]
fn oversized_narinfo_over_http_is_refused_at_the_cap() {
    let dir = TempDir::new().expect("tempdir");
    let path = StorePath::from_parts([6; 20], "huge-1.0").expect("valid");
    // 10 MiB of header-like lines: the parser never sees them.
    let line = "References: ".to_owned() + &"x".repeat(1000) + "\n";
    let body = line.repeat(10 * 1024);
    fs::write(
        dir.path().join(format!("{}.narinfo", path.hash_part())),
        &body,
    )
    .expect("write");
    let url = static_server(dir.path().to_owned());
    let cache = HttpCache::new(&url, None);
    match cache.narinfo(&nix_dir(), &path) {
        Err(CacheError::TooLarge { limit, file, .. }) => {
            assert_eq!(limit, METADATA_LIMIT);
            assert_eq!(file, format!("{}.narinfo", path.hash_part()));
        }
        other => panic!("expected a refusal at the cap, got {other:?}"),
    }
    // And substitution says why, registering nothing.
    let dest_dir = TempDir::new().expect("tempdir");
    let dest = open_store(&dest_dir.path().join("root"));
    let cache: Arc<dyn BinaryCache> = Arc::new(cache);
    let e = substitute(
        std::slice::from_ref(&path),
        &[cache],
        &[key().public()],
        &dest,
    )
    .expect_err("refused");
    assert!(e.to_string().contains("longer than"), "{e}");
    assert!(dest.valid_paths().expect("list").is_empty());
}

/// A bare HTTP/1.1 file server on loopback serving `root` (a hostile cache
/// stands in for `b8g cache serve`, which makes its narinfos from its own
/// store and so cannot be made to lie). One thread per connection; the
/// threads end with the test process.
fn static_server(root: PathBuf) -> String {
    static_server_with(root, None)
}

/// A static server that sends NAR files a byte at a time, `pause` apart.
fn static_server_with(root: PathBuf, trickle: Option<std::time::Duration>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let root = root.clone();
            std::thread::spawn(move || serve_one(conn, &root, trickle));
        }
    });
    url
}

/// Reads a request head; the path it asks for, without the leading `/`.
fn request_target(conn: &std::net::TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
            break;
        }
    }
    Some(
        request
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_owned(),
    )
}

fn serve_one(mut conn: std::net::TcpStream, root: &Path, trickle: Option<std::time::Duration>) {
    let Some(target) = request_target(&conn) else {
        return;
    };
    let Ok(mut f) = fs::File::open(root.join(&target)) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    match trickle {
        Some(pause) if target.starts_with("nar/") => {
            let mut byte = [0u8; 1];
            while io::Read::read(&mut f, &mut byte).is_ok_and(|n| n == 1) {
                std::thread::sleep(pause);
                if conn.write_all(&byte).is_err() {
                    return;
                }
            }
        }
        // The client hangs up early when it refuses: that is expected.
        _ => {
            let _ = io::copy(&mut f, &mut conn);
        }
    }
}

/// The attack pass's finding: a FIFO (or a device) in a `file://` cache
/// blocked the open of its narinfo for ever. Now it is refused at once.
#[test]
fn fifo_or_device_in_a_file_cache_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.narinfo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.narinfo")).expect("symlink");
    let root = dir.path().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let cache = FileCache::new(&root);
        let answers: Vec<String> = ["fifo.narinfo", "zero.narinfo"]
            .iter()
            .map(|f| match cache.get_bytes(f) {
                Ok(b) => format!("{f}: accepted {} bytes", b.map_or(0, |b| b.len())),
                Err(e) => format!("{f}: refused: {e}"),
            })
            .collect();
        let _ = tx.send(answers);
    });
    let answers = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("reading a FIFO from a file cache blocked");
    // The FIFO is no regular file; the link to /dev/zero is not even followed.
    for a in &answers {
        assert!(
            a.contains("refused")
                && (a.contains("not a regular file") || a.contains("a symlink (not followed)")),
            "{answers:?}"
        );
    }
}

/// The second attack pass's finding: a cache that sends a NAR a byte at a
/// time (each read well within the read timeout) held a substitution for as
/// long as it liked. A download below the rate floor fails, and nothing is
/// registered.
#[test]
fn trickled_nar_download_fails_below_the_rate_floor() {
    use b8g_store::cache::rate_floor::RateFloor;
    use std::time::{Duration, Instant};
    let dir = TempDir::new().expect("tempdir");
    let path = bomb_cache(dir.path());
    let url = static_server_with(dir.path().to_owned(), Some(Duration::from_millis(20)));
    let cache: Arc<dyn BinaryCache> =
        Arc::new(HttpCache::new(&url, None).with_nar_floor(RateFloor {
            min_bytes: 10_000,
            window: Duration::from_millis(300),
        }));
    let dest_dir = TempDir::new().expect("tempdir");
    let dest = open_store(&dest_dir.path().join("root"));
    let start = Instant::now();
    let e = substitute(
        std::slice::from_ref(&path),
        &[cache],
        &[key().public()],
        &dest,
    )
    .expect_err("a trickled NAR is refused");
    let msg = e.to_string();
    assert!(msg.contains("too slow"), "clear error: {msg}");
    // Without the floor this takes compressed size × 20 ms (minutes).
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        dest.valid_paths().expect("list").is_empty(),
        "nothing registered"
    );
}

/// A server that answers every narinfo request from `dir` and every NAR
/// request with a zstd frame of `head` followed by skippable frames, which
/// decompress to nothing, for as long as the client reads (at most 256 MiB).
fn padding_server(dir: PathBuf, head: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (dir, head) = (dir.clone(), head.clone());
            std::thread::spawn(move || {
                let Some(target) = request_target(&conn) else {
                    return;
                };
                if !target.starts_with("nar/") {
                    let body = fs::read(dir.join(&target)).unwrap_or_default();
                    let status = if body.is_empty() {
                        "404 Not Found"
                    } else {
                        "200 OK"
                    };
                    let _ = conn.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    let _ = conn.write_all(&body);
                    return;
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let frame = zstd::encode_all(&head[..], 1).expect("zstd");
                if conn.write_all(&frame).is_err() {
                    return;
                }
                let mut skippable = Vec::with_capacity(8 + (64 << 10));
                skippable.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
                skippable.extend_from_slice(&(64u32 << 10).to_le_bytes());
                skippable.resize(8 + (64 << 10), 0);
                for _ in 0..4096 {
                    if conn.write_all(&skippable).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The third attack pass's finding: a signed narinfo without FileSize whose
/// NAR file is half a NAR and then endless zstd padding (skippable frames
/// decompress to nothing, so NarSize is never reached, and the padding
/// keeps every rate floor) hung `cache pull` for as long as it was served.
/// The compressed stream is now bounded by what the signed NarSize allows.
#[test]
fn endless_zstd_padding_without_file_size_is_cut() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new().expect("tempdir");
    let mut nar = Vec::new();
    for s in [
        &b"nix-archive-1"[..],
        b"(",
        b"type",
        b"regular",
        b"contents",
    ] {
        nar_str(&mut nar, s);
    }
    nar_str(&mut nar, &vec![b'x'; 4096]);
    nar_str(&mut nar, b")");
    let mut sink = HashSink::new(HashAlgo::Sha256);
    sink.write_all(&nar).expect("hash");
    let (nar_hash, nar_size) = sink.finish();
    let path = StorePath::from_parts([7; 20], "padded-1.0").expect("valid");
    let info = NarInfo {
        path: path.clone(),
        url: "nar/padded.nar.zst".into(),
        compression: Compression::Zstd,
        file_hash: None,
        file_size: None,
        nar_hash,
        nar_size,
        references: BTreeSet::new(),
        deriver: None,
        signatures: vec![],
        ca: None,
    };
    write_signed_narinfo(dir.path(), info);
    let url = padding_server(dir.path().to_owned(), nar[..nar.len() / 2].to_vec());
    let cache: Arc<dyn BinaryCache> = Arc::new(HttpCache::new(&url, None));
    let dest_dir = TempDir::new().expect("tempdir");
    let dest = open_store(&dest_dir.path().join("root"));
    let start = Instant::now();
    let e = substitute(
        std::slice::from_ref(&path),
        &[cache],
        &[key().public()],
        &dest,
    )
    .expect_err("padding is refused");
    let msg = e.to_string();
    assert!(
        msg.contains("compressed NAR file is longer"),
        "clear error: {msg}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        dest.valid_paths().expect("list").is_empty(),
        "nothing registered"
    );
}

/// The third attack pass's finding: the owner of a `file://` cache planted
/// `<hash>.narinfo -> <a root-only file>`, and root's pull printed the
/// file's first line in its parse error. Symlinks are not followed.
#[test]
fn planted_symlink_in_a_file_cache_is_not_followed() {
    let dir = TempDir::new().expect("tempdir");
    let secret = dir.path().join("secret");
    fs::write(&secret, "tok3n-secret\n").expect("write");
    let cache_dir = dir.path().join("cache");
    fs::create_dir_all(&cache_dir).expect("mkdir");
    let path = StorePath::from_parts([8; 20], "planted-1.0").expect("valid");
    std::os::unix::fs::symlink(
        &secret,
        cache_dir.join(format!("{}.narinfo", path.hash_part())),
    )
    .expect("symlink");
    let cache = FileCache::new(&cache_dir);
    let e = cache.narinfo(&nix_dir(), &path).expect_err("refused");
    let msg = e.to_string();
    assert!(msg.contains("symlink"), "says why: {msg}");
    assert!(!msg.contains("tok3n"), "the target's text leaked: {msg}");
}
