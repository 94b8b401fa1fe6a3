//! Crash safety of `b8g store add`: SIGKILL at random moments, then the store
//! must hold only complete valid paths. Leftovers (temporary names) are
//! allowed before repair; a registered path that is missing or differs from
//! its registration never is.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const B8G: &str = env!("CARGO_BIN_EXE_b8g");

fn b8g(root: &Path) -> Command {
    let mut c = Command::new(B8G);
    c.args([
        "--store-dir",
        "/b8g/store",
        "--state-dir",
        "/var/b8g",
        "--root",
    ])
    .arg(root);
    c.env_remove("B8G_STORE_DIR")
        .env_remove("B8G_STATE_DIR")
        .env_remove("B8G_STORE_ROOT");
    c
}

/// xorshift64: enough randomness for kill times, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A tree of 32 files (≈0.5 MB) in nested directories: big enough that a
/// kill lands in every phase, small enough for 50 runs to stay quick.
fn make_tree(dir: &Path) {
    for d in 0..4 {
        let sub = dir.join(format!("d{d}/e{}", d % 3));
        fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..8 {
            let size = 4000 + (d * 8 + f) * 977;
            let content: Vec<u8> = (0..size).map(|i| (i * 31 + d * 7 + f) as u8).collect();
            fs::write(sub.join(format!("f{f}")), content).expect("write");
        }
    }
}

fn verify_json(root: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let out = b8g(root)
        .args(["store", "verify", "--check-contents", "--json"])
        .args(extra)
        .output()
        .expect("run verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

#[test]
fn sigkill_during_add_never_leaves_an_incomplete_valid_path() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    let tree = work.path().join("tree");
    make_tree(&tree);

    // How long one addition takes, to spread the kills over it.
    let start = Instant::now();
    let st = b8g(&root)
        .args(["store", "add"])
        .arg(&tree)
        .stdout(Stdio::null())
        .status()
        .expect("add");
    assert!(st.success());
    let full = start.elapsed().max(Duration::from_millis(5));

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("kill-test seed {seed}, one add takes {full:?}");
    let mut rng = Rng(seed);
    let mut completed = 0;
    let mut added: Vec<PathBuf> = Vec::new();
    for i in 0..50 {
        // A different tree each time, so every run really writes a new path.
        fs::write(tree.join("iteration"), format!("{i}")).expect("write");
        let child = b8g(&root)
            .args(["store", "add"])
            .arg(&tree)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn add");
        let wait = Duration::from_micros(rng.next() % (full.as_micros() as u64 * 12 / 10 + 1));
        std::thread::sleep(wait);
        // SAFETY: kill(2) on our own child's pid; it has not been reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            completed += 1;
            added.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    eprintln!("{completed} of 50 additions finished before the kill");

    // Before repair: only leftovers may be reported, never a broken valid path.
    let (_, before) = verify_json(&root, &[]);
    for p in before["problems"].as_array().expect("problems") {
        let p = p.as_str().expect("string");
        assert!(
            p.ends_with("is in the store directory but not registered"),
            "a valid path is broken: {p}"
        );
    }
    let (ok, repaired) = verify_json(&root, &["--repair"]);
    assert!(ok, "repair failed: {repaired}");
    let (ok, after) = verify_json(&root, &[]);
    assert!(
        ok && after["problems"].as_array().is_some_and(|a| a.is_empty()),
        "after repair: {after}"
    );
    // Every addition that reported success is valid.
    for p in added {
        let st = b8g(&root)
            .args(["store", "path-info"])
            .arg(&p)
            .stdout(Stdio::null())
            .status()
            .expect("path-info");
        assert!(
            st.success(),
            "{} reported as added but not valid",
            p.display()
        );
    }
    // And the database still takes writes.
    fs::write(tree.join("iteration"), "final").expect("write");
    assert!(b8g(&root)
        .args(["store", "add"])
        .arg(&tree)
        .stdout(Stdio::null())
        .status()
        .expect("add")
        .success());
}
