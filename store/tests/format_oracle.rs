//! Differential tests of `format` and `nar_fs` against Nix 2.8 (`nix-bin`).
//!
//! A fixture tree is built by code (no committed binaries): empty files and
//! directories, executables, symlinks (dangling and absolute), deep nesting,
//! names with spaces and UTF-8, files around buffer sizes, and with
//! `cargo xtask test --full` (ignored by default) a file over 64 MiB. For each we compare our NAR bytes
//! with `nix-store --dump`, our NAR hashes with `nix hash path`, and our store
//! paths with `nix-store --add`/`--add-fixed` and `builtins.toFile`. Nix is
//! pointed at a throw-away store root so the host's /nix is never touched.
//! These tests fail (they do not skip) when Nix is not installed.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::store_path::{FileIngestionMethod, StoreDir};
use b8g_store::nar_fs;

/// Runs a Nix tool against a private store under `root` and returns stdout.
fn nix(root: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .env("NIX_REMOTE", format!("local?root={}", root.display()))
        .env("HOME", root)
        .env("NIX_CONFIG", "experimental-features = nix-command\nsubstituters =\n")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install Nix 2.8 with `apt-get install nix-bin` (cargo xtask test does)")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn nix_line(root: &Path, program: &str, args: &[&str]) -> String {
    String::from_utf8(nix(root, program, args))
        .expect("Nix prints UTF-8")
        .trim()
        .to_owned()
}

/// Deterministic pseudo-random bytes (xorshift), so big files are not all zeros.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write_mode(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Builds the fixture tree at `root`.
fn build_corpus(root: &Path) {
    fs::create_dir(root).unwrap();
    let p = |s: &str| root.join(s);
    fs::write(p("empty"), b"").unwrap();
    fs::create_dir(p("empty-dir")).unwrap();
    write_mode(&p("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write_mode(&p("exec-owner-only"), b"x", 0o700);
    // Only the owner's x bit counts for Nix.
    write_mode(&p("group-exec-only"), b"g", 0o654);
    write_mode(&p("read-only"), b"r", 0o444);
    symlink("does/not/exist", p("link-dangling")).unwrap();
    symlink("/etc/passwd", p("link-absolute")).unwrap();
    symlink("exec.sh", p("link-to-file")).unwrap();
    symlink("empty-dir", p("link-to-dir")).unwrap();
    fs::create_dir(p("dir with spaces")).unwrap();
    fs::write(p("dir with spaces/file with spaces.txt"), b"spaces\n").unwrap();
    fs::create_dir(p("ünïcödé-ñame")).unwrap();
    fs::write(p("ünïcödé-ñame/日本語.txt"), "こんにちは".as_bytes()).unwrap();
    // Byte order, not locale order: upper case, punctuation and digits interleave.
    for name in ["B", "a", "a.b", "a-b", "a0", "Z", "_", "~", "aa", "a b"] {
        fs::write(p(name), name.as_bytes()).unwrap();
    }
    let mut deep = p("deep");
    for i in 0..40 {
        deep.push(format!("d{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf"), b"leaf").unwrap();
    fs::create_dir(p("sizes")).unwrap();
    for (i, size) in [
        1usize,
        7,
        8,
        9,
        15,
        16,
        17,
        4095,
        65535,
        65536,
        65537,
        (1 << 20) + 1,
        3 << 20,
    ]
    .into_iter()
    .enumerate()
    {
        fs::write(
            p("sizes").join(format!("s{size}")),
            bytes(size, i as u64 + 7),
        )
        .unwrap();
    }
    fs::write(p("binary"), (0..=255u8).collect::<Vec<_>>()).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    corpus: PathBuf,
    nix_root: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    build_corpus(&corpus);
    let nix_root = tmp.path().join("nix-root");
    fs::create_dir(&nix_root).unwrap();
    Fixture {
        corpus,
        nix_root,
        _tmp: tmp,
    }
}

/// Every node of the corpus, the root first.
fn all_paths(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            let mut children: Vec<PathBuf> = fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn check_dump_and_hashes(f: &Fixture, path: &Path) {
    let ours = nar_fs::dump_path(path, Vec::new()).unwrap();
    let s = path.to_str().unwrap();
    let theirs = nix(&f.nix_root, "nix-store", &["--dump", s]);
    assert!(
        ours == theirs,
        "NAR of {path:?} differs from nix-store --dump ({} vs {} bytes)",
        ours.len(),
        theirs.len()
    );

    let (h, size) = nar_fs::hash_path(path, HashAlgo::Sha256).unwrap();
    assert_eq!(size, theirs.len() as u64);
    assert_eq!(
        h.to_nix32(),
        nix_line(&f.nix_root, "nix", &["hash", "path", "--base32", s]),
        "{path:?}"
    );
    assert_eq!(
        h.to_base16(),
        nix_line(&f.nix_root, "nix", &["hash", "path", "--base16", s]),
        "{path:?}"
    );
    assert_eq!(
        h.to_sri(),
        nix_line(&f.nix_root, "nix", &["hash", "path", "--sri", s]),
        "{path:?}"
    );
}

#[test]
fn nar_bytes_and_hashes_equal_nix_for_every_fixture_node() {
    let f = fixture();
    let paths = all_paths(&f.corpus);
    assert!(paths.len() > 70, "the corpus is as big as intended");
    // The whole tree with every encoding, then each node's NAR bytes (cheaper).
    check_dump_and_hashes(&f, &f.corpus);
    for p in &paths[1..] {
        let ours = nar_fs::dump_path(p, Vec::new()).unwrap();
        let theirs = nix(&f.nix_root, "nix-store", &["--dump", p.to_str().unwrap()]);
        assert!(ours == theirs, "NAR of {p:?} differs from nix-store --dump");
    }
    for algo in ["md5", "sha1", "sha512"] {
        let (h, _) = nar_fs::hash_path(&f.corpus, algo.parse().unwrap()).unwrap();
        let theirs = nix_line(
            &f.nix_root,
            "nix",
            &[
                "hash",
                "path",
                "--type",
                algo,
                "--sri",
                f.corpus.to_str().unwrap(),
            ],
        );
        assert_eq!(h.to_sri(), theirs, "{algo}");
    }
}

#[test]
fn nix_restores_our_nar_and_we_restore_nix_nar() {
    let f = fixture();
    let nar = nar_fs::dump_path(&f.corpus, Vec::new()).unwrap();
    // Nix restores what we wrote; we dump it again.
    let by_nix = f.nix_root.join("restored-by-nix");
    let mut child = Command::new("nix-store")
        .args(["--restore", by_nix.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nix-store is installed (apt-get install nix-bin)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &nar).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(nar_fs::dump_path(&by_nix, Vec::new()).unwrap() == nar);
    // We restore what Nix wrote; Nix dumps it again.
    let theirs = nix(
        &f.nix_root,
        "nix-store",
        &["--dump", f.corpus.to_str().unwrap()],
    );
    let by_us = f.nix_root.join("restored-by-us");
    nar_fs::restore(&theirs[..], &by_us).unwrap();
    assert!(
        nix(
            &f.nix_root,
            "nix-store",
            &["--dump", by_us.to_str().unwrap()]
        ) == theirs
    );
}

#[test]
fn store_paths_equal_nix_store_add() {
    let f = fixture();
    let d = StoreDir::new("/nix/store").unwrap();
    let r = &f.nix_root;
    let corpus = f.corpus.to_str().unwrap();
    let file = f.corpus.join("exec.sh");
    let file_s = file.to_str().unwrap();
    let file_bytes = fs::read(&file).unwrap();
    let recursive = FileIngestionMethod::Recursive;
    let flat = FileIngestionMethod::Flat;

    // `nix-store --add` is recursive sha256 (a `source` path), for trees and files.
    for (path, name) in [(&f.corpus, "corpus"), (&file, "exec.sh")] {
        let (h, _) = nar_fs::hash_path(path, HashAlgo::Sha256).unwrap();
        let ours = d.display(&d.make_fixed_output_path(name, recursive, &h, &[]).unwrap());
        assert_eq!(
            ours,
            nix_line(r, "nix-store", &["--add", path.to_str().unwrap()])
        );
    }
    // --add-fixed: flat files with every algorithm, recursive with sha256 and others.
    for algo in HashAlgo::ALL {
        let h = algo.digest(&file_bytes);
        let ours = d.display(&d.make_fixed_output_path("exec.sh", flat, &h, &[]).unwrap());
        assert_eq!(
            ours,
            nix_line(r, "nix-store", &["--add-fixed", algo.name(), file_s]),
            "flat {algo}"
        );
        let (h, _) = nar_fs::hash_path(&f.corpus, algo).unwrap();
        let ours = d.display(
            &d.make_fixed_output_path("corpus", recursive, &h, &[])
                .unwrap(),
        );
        let theirs = nix_line(
            r,
            "nix-store",
            &["--add-fixed", "--recursive", algo.name(), corpus],
        );
        assert_eq!(ours, theirs, "recursive {algo}");
    }
}

#[test]
fn text_paths_equal_builtins_to_file() {
    let f = fixture();
    let d = StoreDir::new("/nix/store").unwrap();
    let expr = r#"let a = builtins.toFile "a.txt" "hello";
                      b = builtins.toFile "b" "ref ${a} and again ${a} ünïcödé\n";
                      c = builtins.toFile "c" "two ${b} ${a}";
                  in [ a b c ]"#;
    let out = nix_line(
        &f.nix_root,
        "nix-instantiate",
        &["--eval", "--strict", "--json", "-E", expr],
    );
    let theirs: Vec<&str> = out
        .trim_matches(['[', ']'])
        .split(',')
        .map(|s| s.trim_matches('"'))
        .collect();
    let sha = |s: &str| HashAlgo::Sha256.digest(s.as_bytes());
    let a = d.make_text_path("a.txt", &sha("hello"), &[]).unwrap();
    let a_s = d.display(&a);
    let b_text = format!("ref {a_s} and again {a_s} ünïcödé\n");
    let b = d
        .make_text_path("b", &sha(&b_text), std::slice::from_ref(&a))
        .unwrap();
    let b_s = d.display(&b);
    // References are sorted by us, whatever order they are given in.
    let c = d
        .make_text_path("c", &sha(&format!("two {b_s} {a_s}")), &[b, a])
        .unwrap();
    assert_eq!(theirs, [a_s.as_str(), b_s.as_str(), d.display(&c).as_str()]);
}

#[test]
fn hash_parsing_accepts_what_nix_prints() {
    let f = fixture();
    let s = f.corpus.to_str().unwrap();
    let (ours, _) = nar_fs::hash_path(&f.corpus, HashAlgo::Sha512).unwrap();
    for flag in ["--base16", "--base32", "--base64", "--sri"] {
        let printed = nix_line(
            &f.nix_root,
            "nix",
            &["hash", "path", "--type", "sha512", flag, s],
        );
        assert_eq!(
            Hash::parse_any(&printed, Some(HashAlgo::Sha512)).unwrap(),
            ours,
            "{flag}"
        );
    }
}

/// A file over 64 MiB: dump bytes and hash equal Nix's. Gated because writing
/// and dumping it twice takes a while in debug builds.
#[test]
#[ignore = "slow: writes and dumps a 64 MiB file twice; cargo xtask test --full runs it"]
fn file_over_64_mib_equals_nix() {
    let f = fixture();
    let big = f.corpus.join("big");
    write_mode(&big, &bytes((64 << 20) + 13, 99), 0o755);
    check_dump_and_hashes(&f, &big);
    check_dump_and_hashes(&f, &f.corpus);
}
