//! `s3://` binary caches against a real S3 server: `s3s-fs` (installed by
//! `cargo xtask test`, path in `B8G_S3S_FS`), which keeps each object as a
//! plain file, so the same bucket is also a `file://` cache that Nix 2.8
//! (built here without S3 support) reads and writes.
//!
//! Push, pull, substitution inside `b8g-build`, concurrent pushers, a
//! multipart upload, and both directions of interop with Nix through the
//! bucket's files.

mod run_support;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use run_support::{busybox_project, ok};

const B8G: &str = env!("CARGO_BIN_EXE_b8g");
const B8G_BUILD: &str = env!("CARGO_BIN_EXE_b8g-build");
const KEY_ID: &str = "AKB8GTEST";
const SECRET: &str = "b8g-test-secret-key";

/// An s3s-fs server on a loopback port, killed when dropped.
struct S3 {
    root: PathBuf,
    port: u16,
    child: Child,
}

impl S3 {
    fn start(root: &Path, buckets: &[&str]) -> S3 {
        let exe = std::env::var("B8G_S3S_FS").unwrap_or_default();
        assert!(
            Path::new(&exe).is_file(),
            "this test needs the s3s-fs server: run it through `cargo xtask test` (B8G_S3S_FS={exe:?})"
        );
        for b in buckets {
            fs::create_dir_all(root.join(b)).expect("bucket directory");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(exe)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY_ID, "--secret-key", SECRET])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 {
            root: root.to_owned(),
            port,
            child,
        }
    }

    fn url(&self, bucket: &str) -> String {
        format!(
            "s3://{bucket}?endpoint=127.0.0.1:{}&scheme=http&region=us-east-1",
            self.port
        )
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A b8g command on the store rooted at `root` (store directory /nix/store),
/// with the server's credentials in the environment.
fn b8g(exe: &str, root: &Path) -> Command {
    let mut c = Command::new(exe);
    c.args([
        "--store-dir",
        "/nix/store",
        "--state-dir",
        "/nix/var/nix",
        "--root",
    ])
    .arg(root)
    .env("B8G_CONF", root.join("none.conf"))
    .env("AWS_ACCESS_KEY_ID", KEY_ID)
    .env("AWS_SECRET_ACCESS_KEY", SECRET)
    .env_remove("AWS_PROFILE");
    c
}

fn nix(root: &Path, exe: &str) -> Command {
    let mut c = Command::new(exe);
    c.env("NIX_REMOTE", format!("local?root={}", root.display()))
        .env(
            "NIX_CONFIG",
            "build-users-group =\nsubstituters =\nexperimental-features = nix-command\n",
        );
    c
}

/// Adds a file with `contents` to the b8g store at `root`; its store path.
fn add_file(root: &Path, dir: &Path, name: &str, contents: &str) -> String {
    let f = dir.join(name);
    fs::write(&f, contents).unwrap();
    ok(
        b8g(B8G, root)
            .args(["store", "add"])
            .arg(&f)
            .output()
            .unwrap(),
        "b8g store add",
    )
}

/// Pushes `paths` from the store at `root` to `url`, signed with `secret`.
fn push(root: &Path, secret: &Path, url: &str, paths: &[&str]) {
    ok(
        b8g(B8G, root)
            .args(["cache", "push", "--key"])
            .arg(secret)
            .arg(url)
            .args(paths)
            .output()
            .unwrap(),
        "b8g cache push",
    );
}

const EXPR: &str = r#"
let
  bb = builtins.path { path = ./bb; name = "busybox"; };
  b = "${bb}/bin/busybox";
  mk = name: script: derivation {
    inherit name;
    system = "x86_64-linux";
    builder = b;
    args = [ "sh" "-c" script ];
  };
  lib = mk "s3-lib" "echo library > $out";
in mk "s3-app" "echo ${lib} > $out"
"#;

fn keys(dir: &Path) -> (PathBuf, PathBuf) {
    let secret = dir.join("k.secret");
    let public = dir.join("k.public");
    ok(
        Command::new(B8G)
            .args(["cache", "key", "generate", "s3-test-1", "--secret-file"])
            .arg(&secret)
            .arg("--public-file")
            .arg(&public)
            .output()
            .expect("b8g"),
        "key generate",
    );
    (secret, public)
}

#[test]
fn push_pull_and_substitute_through_s3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"), &["cache"]);
    let (secret, public) = keys(dir.path());
    let proj = busybox_project(dir.path(), EXPR);
    let a = dir.path().join("a");
    let app = ok(
        b8g(B8G_BUILD, &a)
            .current_dir(&proj)
            .arg("--no-out-link")
            .output()
            .expect("b8g-build"),
        "build",
    );
    push(&a, &secret, &s3.url("cache"), &[&app]);
    // The bucket is a Nix binary cache in plain files.
    let bucket = s3.root.join("cache");
    assert!(bucket.join("nix-cache-info").is_file());
    let hash = Path::new(&app).file_name().unwrap().to_str().unwrap()[..32].to_owned();
    assert!(bucket.join(format!("{hash}.narinfo")).is_file());
    // Pull into an empty store, signature checked.
    let b = dir.path().join("b");
    ok(
        b8g(B8G, &b)
            .args(["cache", "pull", "--trusted-public-keys"])
            .arg(&public)
            .arg(s3.url("cache"))
            .arg(&app)
            .output()
            .expect("pull"),
        "pull from s3",
    );
    ok(
        b8g(B8G, &b)
            .args(["store", "verify", "--check-contents"])
            .output()
            .expect("verify"),
        "verify after pull",
    );
    // Substitution inside b8g-build: nothing is built.
    let c = dir.path().join("c");
    let out = b8g(B8G_BUILD, &c)
        .current_dir(&proj)
        .args([
            "--no-out-link",
            "--substituters",
            &s3.url("cache"),
            "--trusted-public-keys",
        ])
        .arg(fs::read_to_string(&public).unwrap().trim())
        .output()
        .expect("b8g-build");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok(out, "b8g-build substituting from s3"), app);
    assert!(
        stderr.contains("from 's3://cache") && !stderr.contains("building '"),
        "{stderr}"
    );
    // Substituting with a key that signed nothing there: built instead, and
    // the refusal said (a misconfigured cache is worth a warning).
    let e = dir.path().join("e");
    let out = b8g(B8G_BUILD, &e)
        .current_dir(&proj)
        .args([
            "--no-out-link",
            "--substituters",
            &s3.url("cache"),
            "--trusted-public-keys",
            "other-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ])
        .output()
        .expect("b8g-build");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok(out, "b8g-build with an untrusted cache"), app);
    assert!(
        stderr.contains("warning: could not substitute") && stderr.contains("building '"),
        "{stderr}"
    );
    // A wrong key: nothing comes in.
    let d = dir.path().join("d");
    let wrong = b8g(B8G, &d)
        .args([
            "cache",
            "pull",
            "--trusted-public-keys",
            "other-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ])
        .arg(s3.url("cache"))
        .arg(&app)
        .output()
        .expect("pull");
    assert!(!wrong.status.success());
    // Wrong credentials are an error naming S3's reason, not "missing".
    let denied = b8g(B8G, &d)
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args(["cache", "pull", "--trusted-public-keys"])
        .arg(&public)
        .arg(s3.url("cache"))
        .arg(&app)
        .output()
        .expect("pull");
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(!denied.status.success() && err.contains("403"), "{err}");
    // And an existence query does not read that refusal as "absent".
    let queried = b8g(B8G, &d)
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args(["cache", "query", &s3.url("cache"), &app])
        .output()
        .expect("query");
    let err = String::from_utf8_lossy(&queried.stderr);
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
}

/// Four pushers at once into one bucket, overlapping closures, one NAR
/// large enough for a multipart upload; then the whole bucket verifies.
#[test]
fn concurrent_pushers_and_a_multipart_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"), &["cache"]);
    let (secret, public) = keys(dir.path());
    let a = dir.path().join("a");
    // 72 MiB that zstd cannot shrink: more than the 64 MiB multipart threshold.
    let big = dir.path().join("big");
    let mut bytes = vec![0u8; 72 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    fs::write(&big, &bytes).unwrap();
    drop(bytes);
    let mut paths = vec![ok(
        b8g(B8G, &a)
            .args(["store", "add"])
            .arg(&big)
            .output()
            .unwrap(),
        "add big",
    )];
    for i in 0..12 {
        let f = dir.path().join(format!("small-{i}"));
        fs::write(&f, format!("small {i}\n")).unwrap();
        paths.push(ok(
            b8g(B8G, &a)
                .args(["store", "add"])
                .arg(&f)
                .output()
                .unwrap(),
            "add small",
        ));
    }
    let pushers: Vec<Child> = (0..4)
        .map(|p| {
            // Each pusher takes half of the paths, overlapping the others.
            let mine: Vec<&String> = paths
                .iter()
                .skip(p * 3)
                .take(7)
                .chain(&paths[..1])
                .collect();
            b8g(B8G, &a)
                .args(["cache", "push", "--key"])
                .arg(&secret)
                .arg(s3.url("cache"))
                .args(mine)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("push")
        })
        .collect();
    for p in pushers {
        ok(p.wait_with_output().unwrap(), "a concurrent push");
    }
    let report = ok(
        b8g(B8G, &a)
            .args(["cache", "verify", "--trusted-public-keys"])
            .arg(&public)
            .arg(s3.url("cache"))
            .output()
            .expect("verify"),
        "cache verify of the bucket",
    );
    eprintln!("{report}");
    let b = dir.path().join("b");
    ok(
        b8g(B8G, &b)
            .args(["cache", "pull", "--trusted-public-keys"])
            .arg(&public)
            .arg(s3.url("cache"))
            .args(&paths)
            .output()
            .expect("pull"),
        "pull everything back",
    );
    let real = b.join(paths[0].trim_start_matches('/'));
    assert_eq!(fs::metadata(real).unwrap().len(), 72 << 20);
}

/// Nix reads what b8g pushed to the bucket (as `file://`), and b8g reads
/// from S3 what Nix wrote into a bucket's directory.
#[test]
fn nix_and_b8g_share_a_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"), &["ours", "theirs"]);
    let (secret, public) = keys(dir.path());
    let a = dir.path().join("a");
    let p = add_file(&a, dir.path(), "file", "shared\n");
    push(&a, &secret, &s3.url("ours"), &[&p]);
    let nix_root = dir.path().join("nix");
    ok(
        nix(&nix_root, "nix")
            .args(["copy", "--from"])
            .arg(format!("file://{}", s3.root.join("ours").display()))
            .args(["--option", "trusted-public-keys"])
            .arg(fs::read_to_string(&public).unwrap().trim())
            .arg(&p)
            .output()
            .unwrap(),
        "nix copy --from the bucket's files",
    );
    // Nix writes a signed cache into the other bucket; b8g pulls it over S3.
    let nix_secret = dir.path().join("nix.secret");
    let nix_public = dir.path().join("nix.public");
    ok(
        Command::new("nix-store")
            .args(["--generate-binary-cache-key", "nix-test-1"])
            .args([&nix_secret, &nix_public])
            .output()
            .unwrap(),
        "nix key",
    );
    let g = dir.path().join("g");
    fs::write(&g, "from nix\n").unwrap();
    let q = ok(
        nix(&nix_root, "nix-store")
            .arg("--add")
            .arg(&g)
            .output()
            .unwrap(),
        "nix add",
    );
    ok(
        nix(&nix_root, "nix")
            .args(["copy", "--to"])
            .arg(format!(
                "file://{}?secret-key={}",
                s3.root.join("theirs").display(),
                nix_secret.display()
            ))
            .arg(&q)
            .output()
            .unwrap(),
        "nix copy --to the bucket's files",
    );
    let b = dir.path().join("b");
    ok(
        b8g(B8G, &b)
            .args(["cache", "pull", "--trusted-public-keys"])
            .arg(&nix_public)
            .arg(s3.url("theirs"))
            .arg(&q)
            .output()
            .unwrap(),
        "b8g pull over S3 of what Nix pushed",
    );
    assert_eq!(
        fs::read_to_string(b.join(q.trim_start_matches('/'))).unwrap(),
        "from nix\n"
    );
}

/// `b8g cache serve --from s3://…`: the bucket served read-only over HTTP,
/// so Nix 2.8 (without S3) substitutes from it, and b8g asks and pulls.
#[test]
fn a_bucket_served_over_http_to_nix_and_b8g() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"), &["cache"]);
    let (secret, public) = keys(dir.path());
    let a = dir.path().join("a");
    let p = add_file(&a, dir.path(), "file", "served from a bucket\n");
    push(&a, &secret, &s3.url("cache"), &[&p]);
    let mut server = b8g(B8G, &dir.path().join("unused"))
        .args(["cache", "serve", "--port", "0", "--from", &s3.url("cache")])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve --from");
    let stderr = server.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(i) = line.find("http://") {
            break line[i..].trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let pk = fs::read_to_string(&public).unwrap().trim().to_owned();
    let nix_root = dir.path().join("nix");
    let copied = nix(&nix_root, "nix")
        .args([
            "copy",
            "--from",
            &url,
            "--option",
            "trusted-public-keys",
            &pk,
            &p,
        ])
        .output()
        .unwrap();
    let queried = b8g(B8G, &dir.path().join("q"))
        .args(["cache", "query", &url, &p])
        .output()
        .unwrap();
    let b = dir.path().join("b");
    let pulled = b8g(B8G, &b)
        .args(["cache", "pull", "--trusted-public-keys", &pk, &url, &p])
        .output()
        .unwrap();
    // Only narinfo names are asked upstream: `..` reaches nothing else, and
    // there is no listing of the bucket for anyone who asks.
    let hash = &Path::new(&p).file_name().unwrap().to_str().unwrap()[..32];
    let asked = Command::new("curl")
        .args(["-s", "-X", "POST", "--data-binary"])
        .arg(format!("../cache/{hash}.narinfo\n{hash}.narinfo\n"))
        .arg(format!("{url}/_b8g/exists"))
        .output()
        .unwrap();
    let listed = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{url}/_b8g/narinfos"))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    ok(copied, "nix copy --from the served bucket");
    assert_eq!(ok(asked, "curl exists"), format!("{hash}.narinfo"));
    assert_eq!(ok(listed, "curl list"), "404");
    assert_eq!(ok(queried, "b8g cache query"), p);
    ok(pulled, "b8g cache pull from the served bucket");
    assert_eq!(
        fs::read_to_string(b.join(p.trim_start_matches('/'))).unwrap(),
        "served from a bucket\n"
    );
}
