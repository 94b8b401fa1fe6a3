//! `builtins.fetchGit` and `builtins.fetchTree` (types git, path, tarball)
//! against Nix 2.8 on repositories `testdata/git/make-fixture.sh` creates:
//! every expression must print exactly what `nix-instantiate --eval
//! --strict` prints (store paths, `rev`, `revCount`, `narHash`, dates), or
//! fail where Nix fails. b8g runs as a dry run for `/nix/store`, and once
//! writing into a throw-away store. Needs `nix-bin` and `git`.
//!
//! One test function: it points `HOME` at the fixture's (whose git config
//! allows `file://` submodules, as git ≥ 2.38 otherwise refuses) before any
//! thread runs git.

use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_builder::glue::EvalSession;
use b8g_eval::{value_to_text, OutputMode};
use b8g_store::format::store_path::StoreDir;
use b8g_store::local::{LocalStore, StoreConfig};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nix_store_dir() -> StoreDir {
    StoreDir::new("/nix/store").expect("valid store dir")
}

fn ours(session: EvalSession, expr: &str) -> Result<String, String> {
    let expr = expr.to_string();
    session
        .run(move |ev, dir| {
            let v = ev.eval_str(&expr, dir)?;
            value_to_text(ev, v, OutputMode::Strict)
        })
        .map_err(|e| e.to_string())
}

/// Nix with a cache of its own for `cache` (Nix keeps fetched Git objects
/// per URL across evaluations, so a revision fetched for one case would be
/// found by the next; b8g starts afresh each evaluation).
fn nix(tmp: &Path, cache: usize, expr: &str) -> Result<String, String> {
    let out = Command::new("nix-instantiate")
        .args(["--extra-experimental-features", "flakes"])
        .args(["--eval", "--strict", "--store"])
        .arg(format!("local?root={}", tmp.join("nix-root").display()))
        .args(["-E", expr])
        .env("NIX_STATE_DIR", tmp.join("nix-state"))
        .env("NIX_LOG_DIR", tmp.join("nix-log"))
        .env("NIX_CONF_DIR", tmp.join("nix-conf"))
        .env("XDG_CACHE_HOME", tmp.join(format!("nix-cache-{cache}")))
        .output()
        .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn fetch_git_and_fetch_tree_match_nix() {
    let tmp = TempDir(std::env::temp_dir().join(format!("b8g-fetch-git-{}", std::process::id())));
    let fx = tmp.0.join("fx");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/git/make-fixture.sh");
    let made = Command::new("sh")
        .arg(&script)
        .arg(&fx)
        .output()
        .expect("sh runs");
    assert!(
        made.status.success(),
        "make-fixture.sh failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Before any other thread exists (see the module doc); Nix gets it too.
    std::env::set_var("HOME", fx.join("home"));
    std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
    let f = fx.display().to_string();
    let rev = |name: &str| {
        let out = Command::new("git")
            .args(["-C", &format!("{f}/repo"), "rev-parse", name])
            .output()
            .expect("git runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (one, three) = (rev("main~1"), rev("other"));
    let cases: Vec<String> = vec![
        // A clean working tree: HEAD's revision, exported by git archive
        // (`secret` is export-ignore'd, the submodule left empty).
        format!("builtins.fetchGit {f}/repo"),
        format!("builtins.fetchGit \"file://{f}/repo\""),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"other\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"refs/heads/other\"; name = \"n\"; }}"),
        // An annotated tag is the tag object's hash, as in Nix 2.8.
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"v2\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"v1\"; shallow = true; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; rev = \"{one}\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; rev = \"{three}\"; ref = \"main\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; submodules = true; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; rev = \"{three}\"; submodules = true; }}"),
        // A bare repository is fetched from like a remote (ref defaults to master).
        format!("builtins.fetchGit {{ url = \"file://{f}/bare.git\"; ref = \"main\"; }}"),
        format!("builtins.fetchGit {{ url = \"file://{f}/bare.git\"; ref = \"other\"; rev = \"{three}\"; }}"),
        format!("builtins.fetchGit {{ url = \"file://{f}/bare.git\"; ref = \"main\"; rev = \"{three}\"; }}"),
        format!("builtins.fetchGit {{ url = \"file://{f}/bare.git\"; ref = \"main\"; rev = \"{three}\"; allRefs = true; }}"),
        format!("builtins.fetchGit \"file://{f}/bare.git\""),
        // Dirty and empty working trees: the tracked files as they are.
        format!("builtins.fetchGit {f}/dirty"),
        format!("builtins.fetchGit {{ url = {f}/dirty; ref = \"main\"; }}"),
        format!("builtins.fetchGit {f}/empty"),
        format!("builtins.fetchTree {{ type = \"git\"; url = {f}/dirty; }}"),
        format!("builtins.fetchTree {{ type = \"git\"; url = {f}/repo; }}"),
        format!("builtins.fetchTree {{ type = \"git\"; url = {f}/repo; shallow = true; }}"),
        // Given tree information is checked.
        format!("builtins.fetchGit {{ url = {f}/repo; revCount = 2; lastModified = 1700000100; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; revCount = 7; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; lastModified = 1; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; narHash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }}"),
        // Refused by both.
        format!("builtins.fetchGit {{ url = {f}/repo; frobnicate = 1; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"a..b\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = \"nosuchbranch\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; rev = \"0000000000000000000000000000000000000001\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; shallow = \"yes\"; }}"),
        format!("builtins.fetchGit {{ url = {f}/repo; ref = [ ]; }}"),
        format!("builtins.fetchGit {f}/plain"),
        format!("builtins.fetchTree {{ url = {f}/repo; }}"),
        format!("builtins.fetchTree {{ type = \"git\"; url = {f}/repo; name = \"x\"; }}"),
        // URL strings, as Nix 2.8 reads them.
        format!("builtins.fetchTree \"path://{f}/plain\""),
        format!("builtins.fetchTree \"path://{f}/plain?lastModified=5\""),
        format!("builtins.fetchTree \"path://{f}/plain?frob=1\""),
        format!("builtins.fetchTree \"path:{f}/plain\""),
        format!("builtins.fetchTree \"git+file://{f}/repo\""),
        format!("builtins.fetchTree \"git+file://{f}/repo?ref=other&shallow=1\""),
        format!("builtins.fetchTree \"git+file://{f}/repo?rev={one}&ref=main\""),
        format!("builtins.fetchTree \"file://{f}/pkg.tar.gz\""),
        format!("builtins.fetchTree {f}/pkg.tar.gz"),
        format!("builtins.fetchTree {f}/plain"),
        "builtins.fetchTree \"github:NixOS/nix\"".to_string(),
        // Paths and tarballs.
        format!("builtins.fetchTree {{ type = \"path\"; path = {f}/plain; }}"),
        format!("builtins.fetchTree {{ type = \"path\"; path = \"{f}/plain\"; rev = \"{one}\"; revCount = 4; }}"),
        format!("builtins.fetchTree {{ type = \"path\"; path = {f}/plain; frobnicate = true; }}"),
        format!("builtins.fetchTree {{ type = \"tarball\"; url = \"file://{f}/pkg.tar.gz\"; }}"),
        format!("builtins.fetchTree {{ type = \"tarball\"; url = \"file://{f}/pkg.tar.gz\"; narHash = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }}"),
    ];
    let mut bad = Vec::new();
    let mut values = 0;
    for (i, expr) in cases.iter().enumerate() {
        let theirs = nix(&tmp.0, i, expr);
        let mine = ours(EvalSession::dry_run(nix_store_dir()), expr);
        match (&theirs, &mine) {
            (Ok(a), Ok(b)) if a == b => values += 1,
            (Err(_), Err(_)) => {}
            _ => bad.push(format!("{expr}\n  nix  {theirs:?}\n  ours {mine:?}")),
        }
    }
    // Writing into a store gives the same result and puts the tree there.
    let config = StoreConfig {
        store_dir: nix_store_dir(),
        state_dir: PathBuf::from("/nix/var/nix"),
        root: Some(tmp.0.join("ours")),
    };
    let store = LocalStore::open(&config).expect("open a store in a temp root");
    let expr = format!("[ (builtins.fetchGit {f}/repo) (builtins.fetchGit {f}/dirty) ]");
    let written = ours(EvalSession::writing(store), &expr);
    let dry = ours(EvalSession::dry_run(nix_store_dir()), &expr);
    if written != dry {
        bad.push(format!("writing {written:?}\n  dry run {dry:?}"));
    }
    let clean = nix(&tmp.0, 0, &format!("(builtins.fetchGit {f}/repo).outPath"))
        .expect("nix fetches the clean tree");
    let real = tmp
        .0
        .join("ours")
        .join(clean.trim_matches('"').trim_start_matches('/'));
    assert!(real.join("d/b").is_file(), "{} was written", real.display());
    assert!(!real.join("secret").exists(), "export-ignore is honoured");
    // A repository's core.fsmonitor program is not run (git would run it
    // for `diff` and `ls-files` of the dirty tree; Nix 2.8 lets it).
    let marker = tmp.0.join("fsmonitor-ran");
    let hostile = fx.join("hostile");
    let cloned = Command::new("git")
        .args(["clone", "-q"])
        .arg(fx.join("repo"))
        .arg(&hostile)
        .status()
        .expect("git runs");
    assert!(cloned.success());
    let configured = Command::new("git")
        .arg("-C")
        .arg(&hostile)
        .args(["config", "core.fsmonitor"])
        .arg(format!("touch {}; false #", marker.display()))
        .status()
        .expect("git runs");
    assert!(configured.success());
    std::fs::write(hostile.join("a"), "dirty\n").expect("make the tree dirty");
    let fetched = ours(
        EvalSession::dry_run(nix_store_dir()),
        &format!("(builtins.fetchGit {}).rev", hostile.display()),
    );
    assert_eq!(
        fetched.as_deref(),
        Ok(format!("\"{}\"", "0".repeat(40)).as_str())
    );
    assert!(!marker.exists(), "core.fsmonitor was run");
    assert!(
        bad.is_empty(),
        "{} of {} cases differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
    assert!(values >= 20, "only {values} cases gave values");
}
