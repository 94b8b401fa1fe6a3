//! `b8g cache serve` under load, as a separate process: 200 concurrent
//! loopback clients send a mix of narinfo and NAR requests (and a few for
//! missing paths); every answer is checked (narinfo signed by the server's
//! key and describing the right NAR; NAR bytes hashing to the NAR hash);
//! the server's peak memory (VmHWM) is reported and must stay bounded.
//! Clients that vanish mid-download, and a `b8g cache pull` killed while
//! it unpacks and then run again, must leave the server healthy and the
//! pulling store with no corrupt or half-registered path.
//!
//! The default run makes 5 000 requests; with `B8G_FULL_TESTS=1` it makes
//! 100 000.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use b8g_store::cache::compress;
use b8g_store::format::hash::{Hash, HashAlgo, HashSink};
use b8g_store::format::narinfo::NarInfo;
use b8g_store::format::signing::PublicKey;
use b8g_store::format::store_path::StoreDir;
use b8g_store::nar_fs;

mod store_support;
use store_support::{check, Store};
const STORE_DIR: &str = "/b8g/store";
const CLIENTS: usize = 200;
/// Peak resident memory the server may reach under the load (bytes).
const RSS_LIMIT: u64 = 300 << 20;

/// Deterministic bytes: compressible text for most files, noise for `noise`.
fn contents(seed: u64, len: usize, noise: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if noise {
            out.extend_from_slice(&x.to_le_bytes());
        } else {
            out.extend_from_slice(format!("line {} of file {seed}\n", x % 1000).as_bytes());
        }
    }
    out.truncate(len);
    out
}

/// NAR hash and size of a file or tree, computed here independently of the server.
fn nar_hash(path: &Path) -> (Hash, u64) {
    struct Sink(HashSink);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = nar_fs::dump_path(path, Sink(HashSink::new(HashAlgo::Sha256))).expect("dump");
    sink.0.finish()
}

/// A running `b8g cache serve`; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(store: &Store, key: &Path) -> Server {
        let mut child = store
            .cmd(&["cache", "serve", "--port", "0", "--key"])
            .arg(key)
            // Every simulated client comes from 127.0.0.1.
            .args(["--max-connections-per-address", "512"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start b8g cache serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server said where it listens before exiting")
                .expect("read server output");
            if let Some(i) = line.find("http://") {
                break line[i..].trim().to_owned();
            }
        };
        // Keep draining the server's log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// `(VmHWM, VmRSS, Threads)` of the server process, from /proc.
    fn memory(&self) -> (u64, u64, u64) {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("read status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc status"))
        };
        (
            field("VmHWM:") * 1024,
            field("VmRSS:") * 1024,
            field("Threads:"),
        )
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().expect("wait").is_none(),
            "the server exited"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What each served path must look like.
struct Expected {
    hash_part: String,
    nar_hash: Hash,
    nar_size: u64,
}

struct Fixture {
    store: Store,
    _keys: tempfile::TempDir,
    secret: PathBuf,
    public: PublicKey,
    public_text: String,
    paths: Vec<(String, Expected)>,
    big: String,
}

/// A store with `n` small paths of varied sizes and one 48 MiB path of noise.
fn fixture(n: usize) -> Fixture {
    let store = Store::new(STORE_DIR);
    let keys = tempfile::tempdir().expect("tempdir");
    let secret = keys.path().join("k.secret");
    let public_file = keys.path().join("k.public");
    store.ok(&[
        "cache",
        "key",
        "generate",
        "load-test-1",
        "--secret-file",
        secret.to_str().expect("utf-8"),
        "--public-file",
        public_file.to_str().expect("utf-8"),
    ]);
    let public_text = fs::read_to_string(&public_file).expect("read public key");
    let public = PublicKey::parse(&public_text).expect("public key");

    let src = store.dir.path().join("src");
    fs::create_dir_all(&src).expect("mkdir");
    let mut files = Vec::new();
    for i in 0..n {
        // 100 B … ~1.5 MiB, most small, like a real closure.
        let len = match i % 10 {
            0 => 1_500_000,
            1..=3 => 200_000,
            _ => 100 + i * 997 % 30_000,
        };
        let f = src.join(format!("file-{i}"));
        fs::write(&f, contents(i as u64, len, i % 3 == 0)).expect("write");
        files.push(f);
    }
    let big_src = src.join("big");
    fs::write(&big_src, contents(999, 48 << 20, true)).expect("write");
    files.push(big_src);

    let mut args = vec!["store", "add"];
    args.extend(files.iter().map(|f| f.to_str().expect("utf-8")));
    let out = store.ok(&args);
    let printed: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(printed.len(), files.len(), "one store path per file: {out}");
    let dir = StoreDir::new(STORE_DIR).expect("store dir");
    let mut paths = Vec::new();
    for (p, f) in printed.iter().zip(&files) {
        let sp = dir.parse_path(p).expect("store path");
        let (nar_hash, nar_size) = nar_hash(f);
        paths.push((
            p.clone(),
            Expected {
                hash_part: sp.hash_part().to_owned(),
                nar_hash,
                nar_size,
            },
        ));
    }
    let big = paths.pop().expect("big path").0;
    Fixture {
        store,
        _keys: keys,
        secret,
        public,
        public_text: public_text.trim().to_owned(),
        paths,
        big,
    }
}

/// One HTTP/1.0 request (the server closes the connection after the
/// answer, so its body is everything until EOF): `(status, body)`. Written
/// by hand so that nothing retries or hides a wrong answer.
fn http_get(url: &str, file: &str) -> Result<(u16, Vec<u8>), String> {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /{file} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| format!("send GET /{file}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read /{file}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("/{file}: no end of headers in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("/{file}: bad status line in {head:?}"))?;
    let body = raw[split + 4..].to_vec();
    // A declared length must be met exactly (a cut transfer is a wrong answer).
    if let Some(len) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    }) {
        if len != body.len() {
            return Err(format!("/{file}: {} of {len} bytes", body.len()));
        }
    }
    Ok((status, body))
}

/// Fetches and checks one narinfo; returns its NAR URL.
fn check_narinfo(url: &str, e: &Expected, key: &PublicKey) -> Result<String, String> {
    let dir = StoreDir::new(STORE_DIR).expect("store dir");
    let (status, body) = http_get(url, &format!("{}.narinfo", e.hash_part))?;
    if status != 200 {
        return Err(format!("narinfo {}: HTTP status {status}", e.hash_part));
    }
    let info = NarInfo::parse(&dir, &body)
        .map_err(|err| format!("{err}: {}", String::from_utf8_lossy(&body)))?;
    if info.path.hash_part() != e.hash_part {
        return Err(format!(
            "narinfo for {} describes {}",
            e.hash_part, info.path
        ));
    }
    if info.nar_hash != e.nar_hash || info.nar_size != e.nar_size {
        return Err(format!(
            "narinfo of {} has the wrong NAR hash or size",
            e.hash_part
        ));
    }
    if !info.has_valid_signature(&dir, std::slice::from_ref(key)) {
        return Err(format!(
            "narinfo of {} is not signed by the server's key",
            e.hash_part
        ));
    }
    Ok(info.url)
}

/// Fetches one NAR, decompresses and hashes it.
fn check_nar(url: &str, nar_url: &str, e: &Expected) -> Result<(), String> {
    let (status, body) = http_get(url, nar_url)?;
    if status != 200 {
        return Err(format!("NAR {nar_url}: HTTP status {status}"));
    }
    let c = b8g_store::format::narinfo::Compression::from_name(nar_url.rsplit_once(".nar").map_or(
        "",
        |(_, ext)| match ext {
            ".zst" => "zstd",
            ".xz" => "xz",
            _ => "none",
        },
    ));
    let mut r = compress::decoder(&c, &body[..]).map_err(|err| err.to_string())?;
    let mut sink = HashSink::new(HashAlgo::Sha256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|err| format!("NAR {nar_url}: {err}"))?;
        if n == 0 {
            break;
        }
        sink.update(&buf[..n]);
    }
    let (h, size) = sink.finish();
    if h != e.nar_hash || size != e.nar_size {
        return Err(format!(
            "NAR {nar_url} has the wrong contents ({size} bytes)"
        ));
    }
    Ok(())
}

/// Starts a download of `nar_url` by hand, reads a little, and vanishes.
fn abandon_download(url: &str, nar_url: &str) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET /{nar_url} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0;
    while got < 200 << 10 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got > 0, "no answer before the client went away");
    // Dropping the socket is what a killed client looks like to the server.
}

fn requests() -> usize {
    if std::env::var_os("B8G_FULL_TESTS").is_some_and(|v| v == "1") {
        100_000
    } else {
        5_000
    }
}

#[test]
fn serve_under_200_clients_with_bounded_memory() {
    let total = requests();
    let f = fixture(60);
    let mut server = Server::start(&f.store, &f.secret);
    let url = server.url.clone();
    let mut nar_urls = BTreeMap::new();
    for (p, e) in &f.paths {
        nar_urls.insert(
            p.clone(),
            check_narinfo(&url, e, &f.public).expect("narinfo"),
        );
    }
    let (_, idle_rss, idle_threads) = server.memory();
    eprintln!(
        "server idle: RSS {} KiB, {idle_threads} threads",
        idle_rss >> 10
    );

    let next = AtomicUsize::new(0);
    let counts = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let peak_seen = AtomicUsize::new(0);
    let started = Instant::now();
    let urls = Arc::new(nar_urls);
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || failures.lock().expect("lock").len() > 10 {
                        return;
                    }
                    let (p, e) = &f.paths[(i / 2).wrapping_mul(7919) % f.paths.len()];
                    let r = if i % 50 == 49 {
                        // A path the server does not have: must be a clean 404.
                        counts[2].fetch_add(1, Ordering::Relaxed);
                        match http_get(&url, &format!("{}.narinfo", "0".repeat(32))) {
                            Ok((404, _)) => Ok(()),
                            Ok((status, _)) => Err(format!("missing path answered {status}")),
                            Err(err) => Err(format!("missing path: {err}")),
                        }
                    } else if i % 2 == 0 {
                        counts[0].fetch_add(1, Ordering::Relaxed);
                        check_narinfo(&url, e, &f.public).map(drop)
                    } else {
                        counts[1].fetch_add(1, Ordering::Relaxed);
                        check_nar(&url, &urls[p], e)
                    };
                    if let Err(msg) = r {
                        failures.lock().expect("lock").push(msg);
                    }
                }
            });
        }
        // Sample the server's memory while the load runs.
        s.spawn(|| {
            while next.load(Ordering::Relaxed) < total && failures.lock().expect("lock").is_empty()
            {
                if let Ok(st) = fs::read_to_string(format!("/proc/{}/status", server.child.id())) {
                    if let Some(t) = st
                        .lines()
                        .find_map(|l| l.strip_prefix("Threads:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                    {
                        peak_seen.fetch_max(t, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "wrong answers under load: {failures:#?}"
    );
    server.assert_alive();
    let (hwm, rss, threads) = server.memory();
    eprintln!(
        "{total} requests ({} narinfo, {} NAR, {} missing) from {CLIENTS} clients in {:.1} s \
         ({:.0} req/s); server VmHWM {} MiB, VmRSS {} MiB, threads {threads} (peak seen {})",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        hwm >> 20,
        rss >> 20,
        peak_seen.load(Ordering::Relaxed),
    );
    assert!(
        hwm < RSS_LIMIT,
        "server peak memory {} MiB is over {} MiB",
        hwm >> 20,
        RSS_LIMIT >> 20
    );

    // Clients that vanish mid-download: the server stays healthy and bounded.
    let big_e = {
        let dir = StoreDir::new(STORE_DIR).expect("store dir");
        let sp = dir.parse_path(&f.big).expect("path");
        let real = f.store.real_store().join(sp.to_string());
        let (nar_hash, nar_size) = nar_hash(&real);
        Expected {
            hash_part: sp.hash_part().to_owned(),
            nar_hash,
            nar_size,
        }
    };
    let big_url = check_narinfo(&url, &big_e, &f.public).expect("big narinfo");
    for _ in 0..20 {
        abandon_download(&url, &big_url);
    }
    server.assert_alive();
    check_nar(&url, &big_url, &big_e).expect("a whole download after the abandoned ones");
    for (p, e) in f.paths.iter().take(5) {
        check_nar(&url, &urls[p], e).expect("small NAR after the abandoned ones");
    }
    let (hwm2, _, _) = server.memory();
    eprintln!(
        "after 20 abandoned downloads: server VmHWM {} MiB",
        hwm2 >> 20
    );
    assert!(
        hwm2 < RSS_LIMIT,
        "peak memory {} MiB after abandoned downloads",
        hwm2 >> 20
    );
}

#[test]
fn pull_killed_mid_download_then_restarted_leaves_no_corrupt_path() {
    let f = fixture(6);
    let mut server = Server::start(&f.store, &f.secret);
    let dest = Store::new(STORE_DIR);
    let url = server.url.clone();
    let pull_args = |dest: &Store| {
        let mut c = dest.cmd(&["cache", "pull", &url, &f.big, &f.paths[0].0]);
        c.args(["--trusted-public-keys", &f.public_text]);
        c
    };

    // Kill the puller while it is unpacking the big NAR into the store.
    let mut child = pull_args(&dest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start b8g cache pull");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed_mid_way = false;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        let unpacking = fs::read_dir(dest.real_store())
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with('.'))
            })
            .unwrap_or(false);
        if unpacking {
            child.kill().expect("kill the puller");
            killed_mid_way = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(
        killed_mid_way,
        "the pull ended before it could be interrupted; the test proves nothing"
    );
    server.assert_alive();

    // Nothing half-done is valid: the big path is not registered yet.
    let out = dest
        .cmd(&["store", "path-info", &f.big])
        .output()
        .expect("run b8g");
    assert!(
        !out.status.success(),
        "a killed pull registered the big path"
    );

    // Restart: completes, and everything checks.
    let out = pull_args(&dest).output().expect("run b8g cache pull");
    check(&out, &["cache", "pull"]);
    let info = dest.ok(&["store", "path-info", "--json", &f.big]);
    assert!(info.contains(&f.big), "{info}");
    let out = dest
        .cmd(&["store", "verify", "--check-contents"])
        .output()
        .expect("run b8g store verify");
    assert!(
        out.status.success(),
        "store verify after an interrupted pull: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.assert_alive();
}
