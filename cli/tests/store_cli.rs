//! `b8g store` end to end: store paths identical to Nix 2.8's, GC roots,
//! bad NAR input, listings.
//!
//! The Nix oracle tests need `nix-store` and `nix-hash` (Debian `nix-bin`)
//! and fail with a clear message without them. Nix always runs against a
//! throw-away chroot store (`NIX_REMOTE=local?root=…`), never the host's /nix.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod store_support;
use store_support::Store;

fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs `{tool}` (Debian package nix-bin); install it or run `cargo xtask test`"
    );
}

/// Runs a Nix tool against a fresh chroot store under `root`.
fn nix(root: &Path, tool: &str, args: &[&str]) -> String {
    require_tool(tool);
    let out = Command::new(tool)
        .args(args)
        .env("NIX_REMOTE", format!("local?root={}", root.display()))
        .env("NIX_CONFIG", "sandbox = false")
        .output()
        .expect("run nix");
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn sample_tree(base: &Path) -> PathBuf {
    let t = base.join("tree");
    fs::create_dir_all(t.join("a/b")).expect("mkdir");
    fs::write(t.join("a/b/data"), "some data\n").expect("write");
    fs::write(t.join("a/empty"), "").expect("write");
    fs::write(t.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    fs::set_permissions(t.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    symlink("a/b/data", t.join("link")).expect("symlink");
    fs::create_dir(t.join("emptydir")).expect("mkdir");
    t
}

#[test]
fn add_matches_nix_store_paths() {
    let ours = Store::new("/nix/store");
    let nix_root = tempfile::tempdir().expect("tempdir");
    let src = tempfile::tempdir().expect("tempdir");
    let tree = sample_tree(src.path());
    let file = src.path().join("hello.txt");
    fs::write(&file, "hello, world\n").expect("write");
    let tree_s = tree.to_str().expect("utf-8");
    let file_s = file.to_str().expect("utf-8");

    let nix_rec = nix(nix_root.path(), "nix-store", &["--add", tree_s]);
    assert_eq!(ours.ok(&["store", "add", tree_s]).trim(), nix_rec);
    assert_eq!(
        ours.ok(&["store", "add", "--recursive", tree_s]).trim(),
        nix_rec
    );
    assert_eq!(
        nix(
            nix_root.path(),
            "nix-store",
            &["--add-fixed", "--recursive", "sha256", tree_s]
        ),
        nix_rec
    );

    let nix_flat = nix(
        nix_root.path(),
        "nix-store",
        &["--add-fixed", "sha256", file_s],
    );
    assert_eq!(
        ours.ok(&["store", "add", "--flat", file_s]).trim(),
        nix_flat
    );
    let nix_file_rec = nix(nix_root.path(), "nix-store", &["--add", file_s]);
    assert_eq!(ours.ok(&["store", "add", file_s]).trim(), nix_file_rec);

    // Same NAR bytes, same NAR hash as Nix records.
    let nix_hash = nix(
        nix_root.path(),
        "nix-store",
        &["--query", "--hash", &nix_rec],
    );
    let info: serde_json::Value =
        serde_json::from_str(&ours.ok(&["store", "path-info", "--json", &nix_rec])).expect("json");
    let ours_hash = info[0]["narHash"].as_str().expect("narHash");
    let base32 = ours.ok(&["store", "hash", "--base32", tree_s]);
    assert_eq!(nix_hash, format!("sha256:{}", base32.trim()));
    assert!(ours_hash.starts_with("sha256-"));
    let nix_dump = Command::new("nix-store")
        .args(["--dump", tree_s])
        .env(
            "NIX_REMOTE",
            format!("local?root={}", nix_root.path().display()),
        )
        .output()
        .expect("nix-store --dump")
        .stdout;
    let our_dump = ours.run(&["store", "dump", tree_s]).stdout;
    assert_eq!(our_dump, nix_dump, "NAR bytes differ");
    let nix_b16 = nix(
        nix_root.path(),
        "nix-hash",
        &["--type", "sha256", "--flat", file_s],
    );
    assert_eq!(
        ours.ok(&["store", "hash", "--flat", "--base16", file_s])
            .trim(),
        nix_b16
    );
}

#[test]
fn gc_via_cli_honours_direct_indirect_and_live_temporary_roots() {
    let s = Store::new("/b8g/store");
    let src = tempfile::tempdir().expect("tempdir");
    let mk = |name: &str, content: &str| {
        let p = src.path().join(name);
        fs::write(&p, content).expect("write");
        s.ok(&["store", "add", p.to_str().expect("utf-8")])
            .trim()
            .to_owned()
    };
    let direct = mk("direct", "kept by a direct root");
    let indirect = mk("indirect", "kept by an indirect root");
    let temp = mk("temp", "kept by a live temporary root");
    let garbage = mk("garbage", "garbage");
    let dangling = mk("dangling", "root whose result link was removed");

    fs::create_dir_all(s.gcroots().join("auto")).expect("mkdir");
    symlink(&direct, s.gcroots().join("direct")).expect("root");
    let result = src.path().join("result");
    symlink(&indirect, &result).expect("result");
    symlink(&result, s.gcroots().join("auto/result")).expect("indirect root");
    let gone = src.path().join("gone");
    symlink(&dangling, &gone).expect("gone");
    symlink(&gone, s.gcroots().join("auto/gone")).expect("dangling root");
    fs::remove_file(&gone).expect("rm");

    // A live process holding a temporary root: the shell takes the lock with
    // flock(1) on a descriptor that `sleep` inherits and keeps.
    let temproots = s.root().join("var/b8g/temproots/424242-0");
    fs::write(&temproots, format!("{temp}\0")).expect("temproots");
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 9<>\"$0\" && flock -x 9 && exec sleep 60")
        .arg(&temproots)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sh");
    for _ in 0..500 {
        let free = Command::new("flock")
            .arg("-n")
            .arg(&temproots)
            .arg("true")
            .status()
            .expect("flock");
        if !free.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let roots = s.ok(&["store", "roots"]);
    assert!(
        roots.contains(&direct) && roots.contains(&indirect) && roots.contains(&temp),
        "{roots}"
    );

    let dry = s.ok(&["store", "gc", "--dry-run"]);
    let mut dry: Vec<&str> = dry.lines().collect();
    dry.sort();
    let mut expected = vec![garbage.as_str(), dangling.as_str()];
    expected.sort();
    assert_eq!(dry, expected);
    assert!(s.real(&garbage).exists(), "dry run deletes nothing");

    let report: serde_json::Value =
        serde_json::from_str(&s.ok(&["store", "gc", "--json"])).expect("json");
    let mut deleted: Vec<&str> = report["deleted"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    deleted.sort();
    assert_eq!(deleted, expected);
    for p in [&direct, &indirect, &temp] {
        assert!(s.real(p).exists(), "{p} must survive");
    }
    for p in [&garbage, &dangling] {
        assert!(!s.real(p).exists(), "{p} must be deleted");
    }
    assert!(
        fs::symlink_metadata(s.gcroots().join("auto/gone")).is_err(),
        "dangling root is removed"
    );

    // Once the process holding the temporary root is gone, its path is garbage.
    holder.kill().expect("kill");
    holder.wait().expect("wait");
    let after = s.ok(&["store", "gc"]);
    assert_eq!(after.trim(), temp);
    let v = s.run(&["store", "verify", "--check-contents"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn gc_max_freed_stops_early() {
    let s = Store::new("/b8g/store");
    let src = tempfile::tempdir().expect("tempdir");
    for i in 0..5 {
        let p = src.path().join(format!("f{i}"));
        fs::write(&p, vec![b'a' + i; 10_000]).expect("write");
        s.ok(&["store", "add", p.to_str().expect("utf-8")]);
    }
    let first = s.ok(&["store", "gc", "--max-freed", "15000"]);
    assert_eq!(first.lines().count(), 2, "{first}");
    let rest = s.ok(&["store", "gc"]);
    assert_eq!(rest.lines().count(), 3, "{rest}");
}

#[test]
fn query_and_path_info_listings() {
    let s = Store::new("/b8g/store");
    let src = tempfile::tempdir().expect("tempdir");
    let p = src.path().join("x");
    fs::write(&p, "x").expect("write");
    let added = s
        .ok(&["store", "add", p.to_str().expect("utf-8")])
        .trim()
        .to_owned();
    let refs: serde_json::Value =
        serde_json::from_str(&s.ok(&["store", "query", "--requisites", "--json", &added]))
            .expect("json");
    assert_eq!(refs, serde_json::json!([added]));
    assert_eq!(s.ok(&["store", "query", "--references", &added]), "");
    // A symlink leading into the store resolves to the store path.
    let result = src.path().join("result");
    symlink(&added, &result).expect("symlink");
    let info = s.ok(&["store", "path-info", result.to_str().expect("utf-8")]);
    assert!(info.starts_with(&added), "{info}");
    // An unknown path is an error, not an empty answer.
    let bad = s.run(&[
        "store",
        "path-info",
        "/b8g/store/00000000000000000000000000000000-nope",
    ]);
    assert!(!bad.status.success());
    for sub in [
        "add",
        "dump",
        "restore",
        "import",
        "hash",
        "path-info",
        "query",
        "gc",
        "verify",
        "optimise",
        "roots",
    ] {
        let help = s.run(&["store", sub, "--help"]);
        assert!(help.status.success(), "{sub} --help");
    }
}

#[test]
fn malformed_nar_leaves_nothing_behind() {
    let s = Store::new("/b8g/store");
    let src = tempfile::tempdir().expect("tempdir");
    let tree = sample_tree(src.path());
    let nar = s
        .run(&["store", "dump", tree.to_str().expect("utf-8")])
        .stdout;
    assert!(nar.len() > 100);
    let feed = |args: &[&str], input: &[u8]| {
        let mut child = s
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        use std::io::Write;
        // The child may stop reading early on bad input.
        let _ = child.stdin.take().expect("stdin").write_all(input);
        child.wait_with_output().expect("wait")
    };
    let mut bad_inputs: Vec<Vec<u8>> = vec![
        nar[..nar.len() / 2].to_vec(),
        nar[..nar.len() - 1].to_vec(),
        b"garbage".to_vec(),
    ];
    let mut flipped = nar.clone();
    // Corrupt the first "type" tag.
    if let Some(pos) = flipped.windows(4).position(|w| w == b"type") {
        flipped[pos] = b'T';
    }
    bad_inputs.push(flipped);
    for (i, input) in bad_inputs.iter().enumerate() {
        let target = src.path().join(format!("restored{i}"));
        let out = feed(
            &["store", "restore", target.to_str().expect("utf-8")],
            input,
        );
        assert!(!out.status.success(), "bad input {i} accepted by restore");
        assert!(
            fs::symlink_metadata(&target).is_err(),
            "restore left {target:?} behind"
        );
        let out = feed(&["store", "import", "--name", "t"], input);
        assert!(!out.status.success(), "bad input {i} accepted by import");
    }
    let entries: Vec<_> = fs::read_dir(s.real("/b8g/store"))
        .expect("store dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != ".links")
        .collect();
    assert!(entries.is_empty(), "store not empty: {entries:?}");
    let v = s.run(&["store", "verify", "--check-contents"]);
    assert!(v.status.success());
    let good = feed(&["store", "import", "--name", "tree"], &nar);
    assert!(good.status.success());
    let added = s.ok(&["store", "add", tree.to_str().expect("utf-8")]);
    assert_eq!(String::from_utf8_lossy(&good.stdout), added);
}

/// `b8g store path-info -r/-s/-S` and `--json -rsS` print what Nix 2.8's
/// `nix path-info` prints for the same paths: a `toFile`-style text file
/// referring to another, made by both stores.
#[test]
fn path_info_recursive_and_sizes_match_nix_path_info() {
    use b8g_store::local::{LocalStore, StoreConfig};
    let ours = Store::new("/nix/store");
    let nix_root = tempfile::tempdir().expect("tempdir");
    let top_nix = nix(
        nix_root.path(),
        "nix-instantiate",
        &[
            "--read-write-mode",
            "--eval",
            "-E",
            r#"builtins.toFile "top" "uses ${builtins.toFile "dep" "x"}""#,
        ],
    );
    let top_nix = top_nix.trim_matches('"').to_owned();
    {
        let store = LocalStore::open(&StoreConfig {
            store_dir: b8g_store::format::store_path::StoreDir::new("/nix/store").expect("dir"),
            state_dir: PathBuf::from("/var/b8g"),
            root: Some(ours.root()),
        })
        .expect("open");
        let dep = store.add_text("dep", b"x", &[]).expect("dep");
        let text = format!("uses {}", store.print_path(&dep));
        let top = store.add_text("top", text.as_bytes(), &[dep]).expect("top");
        assert_eq!(store.print_path(&top), top_nix, "toFile paths differ");
    }
    let nix_cmd = |args: &[&str]| {
        let mut all = vec!["--extra-experimental-features", "nix-command", "path-info"];
        all.extend_from_slice(args);
        all.push(&top_nix);
        nix(nix_root.path(), "nix", &all)
    };
    let ours_cmd = |args: &[&str]| {
        let mut all = vec!["store", "path-info"];
        all.extend_from_slice(args);
        all.push(&top_nix);
        ours.ok(&all).trim().to_owned()
    };
    for args in [
        &["-r", "-s", "-S"][..],
        &["-rsS"],
        &["--recursive", "--size"],
        &["-S"],
        &["-s"],
        &["--closure-size"],
    ] {
        assert_eq!(ours_cmd(args), nix_cmd(args), "path-info {args:?}");
    }
    for args in [
        &["--json", "-rsS"][..],
        &["--json", "-S"],
        &["--json", "-r"],
    ] {
        let theirs: serde_json::Value = serde_json::from_str(&nix_cmd(args)).expect("nix json");
        let mine: serde_json::Value = serde_json::from_str(&ours_cmd(args)).expect("our json");
        let (theirs, mine) = (
            theirs.as_array().expect("list"),
            mine.as_array().expect("list"),
        );
        assert_eq!(mine.len(), theirs.len(), "{args:?}: {mine:?}");
        for (t, m) in theirs.iter().zip(mine) {
            let (t, m) = (
                t.as_object().expect("object"),
                m.as_object().expect("object"),
            );
            // The same fields, with the same values but for the time of registration.
            assert_eq!(
                m.keys().collect::<Vec<_>>(),
                t.keys().collect::<Vec<_>>(),
                "{args:?}"
            );
            for (field, value) in t {
                if field != "registrationTime" {
                    assert_eq!(&m[field], value, "{args:?}: field {field}");
                }
            }
        }
    }
}

/// `b8g store gc` keeps the pinned Debian seeds of the bootstrap lock (the
/// fixed-output `.deb` paths, which Debian may no longer serve) unless
/// `--include-seeds`; `--dry-run` says the same as the real collection does.
#[test]
fn gc_keeps_the_seeds_of_the_bootstrap_lock_unless_told() {
    let s = Store::new("/b8g/store");
    let src = tempfile::tempdir().expect("tempdir");
    let deb = src.path().join("pretend.deb");
    fs::write(&deb, "not really a Debian package\n").expect("write");
    let deb_s = deb.to_str().expect("utf-8");
    let sha256 = s.ok(&["store", "hash", "--flat", "--base16", deb_s]);
    let recipes = src.path().join("recipes");
    fs::create_dir_all(recipes.join("bootstrap")).expect("mkdir");
    fs::write(
        recipes.join("bootstrap/pins.nix"),
        format!(
            "{{\n  fake = {{\n    package = \"fake\";\n    version = \"1.0-1\";\n    \
             sha256 = \"{}\";\n  }};\n}}\n",
            sha256.trim()
        ),
    )
    .expect("pins");
    // What the fetch of that pin registers: a flat sha256 path named `fake.deb`.
    let seed = s.ok(&["store", "add", "--flat", "--name", "fake.deb", deb_s]);
    let seed = seed.trim();
    let other = src.path().join("other");
    fs::write(&other, "garbage\n").expect("write");
    let garbage = s.ok(&["store", "add", other.to_str().expect("utf-8")]);
    let garbage = garbage.trim();
    let recipes_s = recipes.to_str().expect("utf-8");

    let gc = |extra: &[&str]| {
        let mut args = vec!["store", "gc", "--recipes", recipes_s];
        args.extend_from_slice(extra);
        let out = s.run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (dry, err) = gc(&["--dry-run"]);
    assert_eq!(dry.trim(), garbage, "only the garbage would go: {dry}");
    assert!(err.contains("keeping 1 pinned seeds"), "{err}");
    let (deleted, _) = gc(&[]);
    assert_eq!(deleted.trim(), garbage);
    assert!(s.ok(&["store", "path-info", seed]).starts_with(seed));

    let (dry, _) = gc(&["--dry-run", "--include-seeds"]);
    assert_eq!(dry.trim(), seed);
    let (deleted, _) = gc(&["--include-seeds"]);
    assert_eq!(deleted.trim(), seed);
    assert!(!s.run(&["store", "path-info", seed]).status.success());
}
