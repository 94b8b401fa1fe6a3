//! Property and rejection tests of NAR reading, writing, dumping and restoring.
//!
//! - Random trees: dump → restore → dump gives identical bytes, and the
//!   reader's events re-serialise to the same NAR.
//! - Random corruption of a valid NAR never panics; whatever still parses is
//!   canonical (re-serialises to the bytes read), and a failed restore leaves
//!   nothing behind.
//! - A named set of bad NARs, each rejected with the right error and offset,
//!   with nothing left on disk.
//! - Regression inputs found by fuzzing, in `testdata/nar/corpus/`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use b8g_store::format::nar::{Event, NameProblem, NarError, NarReader, NarWriter, Node};
use b8g_store::nar_fs::{self, RestoreError};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Tree {
    File { executable: bool, data: Vec<u8> },
    Link(String),
    Dir(BTreeMap<String, Tree>),
}

fn tree_strategy() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(executable, data)| Tree::File { executable, data }),
        "[a-z./ -]{1,12}".prop_map(Tree::Link),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::btree_map("[a-zA-Z0-9 ._~-]{1,6}|ü[a-z]{0,3}", inner, 0..6).prop_map(
            |m| {
                Tree::Dir(
                    m.into_iter()
                        .filter(|(k, _)| k != "." && k != "..")
                        .collect(),
                )
            },
        )
    })
}

fn root_strategy() -> impl Strategy<Value = Tree> {
    // Mostly directories at the root, where the interesting structure is.
    prop_oneof![1 => tree_strategy(), 4 => proptest::collection::btree_map("[a-z]{1,4}", tree_strategy(), 0..5)
        .prop_map(Tree::Dir)]
}

fn materialise(t: &Tree, path: &Path) {
    match t {
        Tree::File { executable, data } => {
            fs::write(path, data).unwrap();
            let mode = if *executable { 0o755 } else { 0o644 };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        }
        Tree::Link(target) => symlink(target, path).unwrap(),
        Tree::Dir(entries) => {
            fs::create_dir(path).unwrap();
            for (name, child) in entries {
                materialise(child, &path.join(name));
            }
        }
    }
}

/// Serialises the model directly through the writer (no filesystem).
fn write_model(w: &mut NarWriter<Vec<u8>>, t: &Tree, name: Option<&[u8]>) {
    match t {
        Tree::File { executable, data } => w
            .file(name, *executable, data.len() as u64, &mut &data[..])
            .unwrap(),
        Tree::Link(target) => w.symlink(name, target.as_bytes()).unwrap(),
        Tree::Dir(entries) => {
            w.start_directory(name).unwrap();
            // BTreeMap<String> iterates in byte order, which is NAR order.
            for (n, child) in entries {
                write_model(w, child, Some(n.as_bytes()));
            }
            w.end_directory().unwrap();
        }
    }
}

fn model_nar(t: &Tree) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    write_model(&mut w, t, None);
    w.finish().unwrap()
}

/// Parses a NAR and writes its events back out; returns the re-serialised
/// bytes and how many input bytes the reader consumed.
fn reserialise(nar: &[u8]) -> Result<(Vec<u8>, u64), NarError> {
    let mut r = NarReader::new(nar);
    let mut w = NarWriter::new(Vec::new());
    while let Some(ev) = r.next()? {
        match ev {
            Event::EndDirectory => w.end_directory().unwrap(),
            Event::Node {
                name,
                node: Node::Directory,
            } => w.start_directory(name.as_deref()).unwrap(),
            Event::Node {
                name,
                node: Node::Symlink { target },
            } => w.symlink(name.as_deref(), &target).unwrap(),
            Event::Node {
                name,
                node: Node::File { executable, size },
            } => {
                if size > nar.len() as u64 {
                    // Cannot be complete; let the reader report the truncation.
                    r.validate_all()?;
                    unreachable!("a file longer than the whole NAR validated");
                }
                let mut data = Vec::new();
                let mut buf = [0u8; 1000];
                loop {
                    let n = r.read_contents(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                w.file(name.as_deref(), executable, size, &mut &data[..])
                    .unwrap();
            }
        }
    }
    Ok((w.finish().unwrap(), r.offset()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn dump_restore_dump_round_trips(t in root_strategy()) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        materialise(&t, &src);
        let nar = nar_fs::dump_path(&src, Vec::new()).unwrap();
        prop_assert_eq!(&nar, &model_nar(&t));
        let dst = tmp.path().join("dst");
        nar_fs::restore(&nar[..], &dst).unwrap();
        prop_assert_eq!(nar_fs::dump_path(&dst, Vec::new()).unwrap(), nar);
    }

    #[test]
    fn corrupted_restore_fails_cleanly_or_succeeds(t in root_strategy(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut nar = model_nar(&t);
        let i = at.index(nar.len());
        nar[i] = byte;
        let tmp = tempfile::tempdir().unwrap();
        let dst = tmp.path().join("dst");
        match nar_fs::restore(&nar[..], &dst) {
            Ok(()) => {
                // What was restored is exactly the canonical prefix that parsed.
                let (canonical, consumed) = reserialise(&nar).unwrap();
                prop_assert_eq!(nar_fs::dump_path(&dst, Vec::new()).unwrap(), canonical);
                prop_assert!(consumed as usize <= nar.len());
            }
            Err(_) => prop_assert!(fs::symlink_metadata(&dst).is_err(), "restore left {:?} behind", dst),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn reader_round_trips_writer(t in root_strategy()) {
        let nar = model_nar(&t);
        let (again, consumed) = reserialise(&nar).unwrap();
        prop_assert_eq!(consumed, nar.len() as u64);
        prop_assert_eq!(again, nar);
    }

    #[test]
    fn random_corruption_never_panics(
        t in root_strategy(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut nar = model_nar(&t);
        for (at, byte) in &edits {
            let i = at.index(nar.len());
            nar[i] = *byte;
        }
        if do_cut {
            nar.truncate(cut.index(nar.len()));
        }
        match reserialise(&nar) {
            Ok((canonical, consumed)) => prop_assert_eq!(&canonical[..], &nar[..consumed as usize]),
            Err(e) => {
                prop_assert!(e.offset() <= nar.len() as u64, "offset {} past {}: {}", e.offset(), nar.len(), e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut with_magic = raw(&[b"nix-archive-1"]);
        with_magic.extend_from_slice(&data);
        for input in [&data[..], &with_magic[..]] {
            if let Err(e) = NarReader::new(input).validate_all() {
                prop_assert!(e.offset() <= input.len() as u64);
            }
        }
    }
}

/// Encodes NAR strings (length, bytes, zero padding).
fn raw(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u64).to_le_bytes());
        v.extend_from_slice(p);
        v.resize(v.len().next_multiple_of(8), 0);
    }
    v
}

fn file_entry(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = raw(&[
        b"entry",
        b"(",
        b"name",
        name,
        b"node",
        b"(",
        b"type",
        b"regular",
        b"contents",
    ]);
    v.extend_from_slice(&(data.len() as u64).to_le_bytes());
    v.extend_from_slice(data);
    v.resize(v.len().next_multiple_of(8), 0);
    v.extend(raw(&[b")", b")"]));
    v
}

/// A root directory with a good first entry `a` (so restore has written
/// something before it fails), then `rest`, then the closing `)`.
fn bad_dir(rest: &[u8]) -> (Vec<u8>, u64) {
    let mut v = raw(&[b"nix-archive-1", b"(", b"type", b"directory"]);
    v.extend(file_entry(b"a", b"first entry, restored before the fault"));
    let fault_at = v.len() as u64;
    v.extend_from_slice(rest);
    v.extend(raw(&[b")"]));
    (v, fault_at)
}

/// Offset of the name string inside an entry that starts at `entry_at`.
fn name_offset(entry_at: u64) -> u64 {
    entry_at + raw(&[b"entry", b"(", b"name"]).len() as u64
}

fn check_restore_rejects(nar: &[u8], what: &str, expect: impl Fn(&NarError) -> bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst");
    match nar_fs::restore(nar, &dst) {
        Err(RestoreError::Nar(e)) => assert!(expect(&e), "{what}: unexpected error {e:?}"),
        other => panic!("{what}: expected a NAR error, got {other:?}"),
    }
    assert!(
        fs::symlink_metadata(&dst).is_err(),
        "{what}: restore left {dst:?} behind"
    );
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "{what}: stray files"
    );
}

#[test]
fn bad_nar_set_is_rejected_with_offsets_and_leaves_nothing() {
    for (name, problem) in [
        (&b".."[..], NameProblem::DotDot),
        (b".", NameProblem::Dot),
        (b"b/c", NameProblem::Slash),
        (b"/", NameProblem::Slash),
        (b"b\0", NameProblem::Nul),
        (b"", NameProblem::Empty),
    ] {
        let (nar, at) = bad_dir(&file_entry(name, b"x"));
        check_restore_rejects(
            &nar,
            &format!("name {name:?}"),
            |e| matches!(e, NarError::InvalidName { offset, problem: p, .. } if *offset == name_offset(at) && *p == problem),
        );
    }
    let (nar, at) = bad_dir(&file_entry(b"A", b"x"));
    check_restore_rejects(
        &nar,
        "unsorted",
        |e| matches!(e, NarError::Unsorted { offset, .. } if *offset == name_offset(at)),
    );
    let (nar, at) = bad_dir(&file_entry(b"a", b"x"));
    check_restore_rejects(
        &nar,
        "duplicate",
        |e| matches!(e, NarError::Duplicate { offset, .. } if *offset == name_offset(at)),
    );
    let (nar, at) = bad_dir(&raw(&[
        b"entry", b"(", b"name", b"b", b"node", b"(", b"type", b"socket",
    ]));
    let type_at = at + raw(&[b"entry", b"(", b"name", b"b", b"node", b"(", b"type"]).len() as u64;
    check_restore_rejects(
        &nar,
        "unknown node type",
        |e| matches!(e, NarError::UnexpectedToken { offset, .. } if *offset == type_at),
    );
    let (nar, at) = bad_dir(&raw(&[b"entries"]));
    check_restore_rejects(
        &nar,
        "unknown token",
        |e| matches!(e, NarError::UnexpectedToken { offset, .. } if *offset == at),
    );

    // Non-zero padding in the contents of a second file.
    let mut entry = file_entry(b"b", b"12345");
    let pad = entry.windows(5).position(|w| w == b"12345").unwrap() + 5;
    entry[pad + 1] = 0xff;
    let (nar, at) = bad_dir(&entry);
    check_restore_rejects(
        &nar,
        "non-zero padding",
        |e| matches!(e, NarError::NonZeroPadding { offset } if *offset == at + pad as u64 + 1),
    );

    // An absurd name length: rejected before any allocation.
    let mut absurd = raw(&[b"entry", b"(", b"name"]);
    absurd.extend_from_slice(&u64::MAX.to_le_bytes());
    let (nar, at) = bad_dir(&absurd);
    check_restore_rejects(
        &nar,
        "absurd length",
        |e| matches!(e, NarError::TooLong { offset, len: u64::MAX, .. } if *offset == name_offset(at)),
    );

    // Truncated in the middle of the second file's contents.
    let (nar, at) = bad_dir(&file_entry(b"b", &[7u8; 100]));
    let cut = at as usize + 150;
    check_restore_rejects(&nar[..cut], "truncated", |e| {
        matches!(e, NarError::Truncated { .. })
    });
    // Truncated right after the magic: nothing was created at all.
    check_restore_rejects(&raw(&[b"nix-archive-1"]), "magic only", |e| {
        matches!(e, NarError::Truncated { offset: 24, .. })
    });
    check_restore_rejects(&raw(&[b"nix-archive-0"]), "bad magic", |e| {
        matches!(e, NarError::BadMagic { .. })
    });
}

/// A symlink in the NAR must never become a way to write outside the target.
#[test]
fn restore_never_writes_through_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    // `a` is a symlink to the outside, then `a` again as a directory (a duplicate).
    let mut rest = raw(&[
        b"entry",
        b"(",
        b"name",
        b"a",
        b"node",
        b"(",
        b"type",
        b"directory",
    ]);
    rest.extend(file_entry(b"evil", b"x"));
    rest.extend(raw(&[b")", b")"]));
    let mut nar = raw(&[b"nix-archive-1", b"(", b"type", b"directory"]);
    nar.extend(raw(&[
        b"entry", b"(", b"name", b"a", b"node", b"(", b"type", b"symlink", b"target",
    ]));
    nar.extend(raw(&[outside.to_str().unwrap().as_bytes(), b")", b")"]));
    nar.extend(rest);
    nar.extend(raw(&[b")"]));
    let dst = tmp.path().join("dst");
    assert!(matches!(
        nar_fs::restore(&nar[..], &dst),
        Err(RestoreError::Nar(NarError::Duplicate { .. }))
    ));
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    assert!(fs::symlink_metadata(&dst).is_err());
}

fn regression_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/nar/corpus")
}

/// Inputs the fuzzer found interesting (crashes, once fixed, or slow cases):
/// each must be read without a panic, and re-serialise canonically if valid.
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = regression_dir();
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let data = fs::read(&path).unwrap();
        if let Ok((canonical, consumed)) = reserialise(&data) {
            assert_eq!(&canonical[..], &data[..consumed as usize], "{path:?}");
        }
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {dir:?}");
}
