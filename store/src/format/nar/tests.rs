use super::*;
use crate::format::hash::{HashAlgo, HashSink};

/// Encodes one NAR string (length, bytes, zero padding).
fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(b);
    v.resize(v.len() + padding(b.len() as u64), 0);
    v
}

fn raw(parts: &[&[u8]]) -> Vec<u8> {
    parts.iter().flat_map(|p| s(p)).collect()
}

fn read_all(nar: &[u8]) -> Result<Vec<(Event, Vec<u8>)>, NarError> {
    let mut r = NarReader::new(nar);
    let mut out = Vec::new();
    while let Some(ev) = r.next()? {
        let mut contents = Vec::new();
        if let Event::Node {
            node: Node::File { .. },
            ..
        } = ev
        {
            let mut buf = [0u8; 7];
            loop {
                let n = r.read_contents(&mut buf)?;
                if n == 0 {
                    break;
                }
                contents.extend_from_slice(&buf[..n]);
            }
        }
        out.push((ev, contents));
    }
    Ok(out)
}

fn sample() -> Vec<u8> {
    let mut w = NarWriter::new(Vec::new());
    w.start_directory(None).unwrap();
    w.file(Some(b"a"), false, 5, &mut &b"hello"[..]).unwrap();
    w.file(Some(b"b"), true, 0, &mut &b""[..]).unwrap();
    w.start_directory(Some(b"c")).unwrap();
    w.symlink(Some(b"l"), b"../a").unwrap();
    w.end_directory().unwrap();
    w.end_directory().unwrap();
    w.finish().unwrap()
}

#[test]
fn single_file_hash_matches_nix() {
    // `nix-hash --type sha256 --base32` of a file holding "hello".
    let mut w = NarWriter::new(HashSink::new(HashAlgo::Sha256));
    w.file(None, false, 5, &mut &b"hello"[..]).unwrap();
    let (h, n) = w.finish().unwrap().finish();
    assert_eq!(
        h.to_nix32(),
        "0sg9f58l1jj88w6pdrfdpj5x9b1zrwszk84j81zvby36q9whhhqa"
    );
    assert_eq!(n, 120);
}

#[test]
fn writer_output_is_the_canonical_byte_layout() {
    let expected = [
        raw(&[MAGIC, b"(", b"type", b"directory"]),
        raw(&[
            b"entry",
            b"(",
            b"name",
            b"a",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"contents",
        ]),
        5u64.to_le_bytes().to_vec(),
        b"hello\0\0\0".to_vec(),
        raw(&[b")", b")"]),
        raw(&[
            b"entry",
            b"(",
            b"name",
            b"b",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"executable",
            b"",
        ]),
        raw(&[b"contents"]),
        0u64.to_le_bytes().to_vec(),
        raw(&[b")", b")"]),
        raw(&[
            b"entry",
            b"(",
            b"name",
            b"c",
            b"node",
            b"(",
            b"type",
            b"directory",
        ]),
        raw(&[
            b"entry", b"(", b"name", b"l", b"node", b"(", b"type", b"symlink", b"target", b"../a",
        ]),
        raw(&[b")", b")", b")", b")", b")"]),
    ]
    .concat();
    assert_eq!(sample(), expected);
}

#[test]
fn reader_round_trips_writer() {
    let events = read_all(&sample()).unwrap();
    let node = |name: &[u8], node| Event::Node {
        name: Some(name.to_vec()),
        node,
    };
    assert_eq!(
        events,
        vec![
            (
                Event::Node {
                    name: None,
                    node: Node::Directory
                },
                vec![]
            ),
            (
                node(
                    b"a",
                    Node::File {
                        executable: false,
                        size: 5
                    }
                ),
                b"hello".to_vec()
            ),
            (
                node(
                    b"b",
                    Node::File {
                        executable: true,
                        size: 0
                    }
                ),
                vec![]
            ),
            (node(b"c", Node::Directory), vec![]),
            (
                node(
                    b"l",
                    Node::Symlink {
                        target: b"../a".to_vec()
                    }
                ),
                vec![]
            ),
            (Event::EndDirectory, vec![]),
            (Event::EndDirectory, vec![]),
        ]
    );
}

#[test]
fn unread_contents_are_skipped_and_checked() {
    let nar = sample();
    let mut r = NarReader::new(&nar[..]);
    let mut n = 0;
    while r.next().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 7);
    assert_eq!(r.offset(), nar.len() as u64);
    // Trailing bytes after the root are not the reader's business.
    let mut longer = nar.clone();
    longer.extend_from_slice(b"trailing");
    assert_eq!(
        NarReader::new(&longer[..]).validate_all().unwrap(),
        nar.len() as u64
    );
}

#[test]
fn writer_rejects_misuse() {
    let mut w = NarWriter::new(Vec::new());
    w.start_directory(None).unwrap();
    w.file(Some(b"b"), false, 0, &mut &b""[..]).unwrap();
    assert!(matches!(
        w.file(Some(b"a"), false, 0, &mut &b""[..]),
        Err(NarWriteError::Unsorted { .. })
    ));
    assert!(matches!(
        w.file(Some(b"b"), false, 0, &mut &b""[..]),
        Err(NarWriteError::Unsorted { .. })
    ));
    assert!(matches!(
        w.file(Some(b".."), false, 0, &mut &b""[..]),
        Err(NarWriteError::InvalidName {
            problem: NameProblem::DotDot,
            ..
        })
    ));
    assert!(matches!(
        w.file(Some(b"c"), false, 4, &mut &b"abc"[..]),
        Err(NarWriteError::ShortFile {
            expected: 4,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        w.symlink(Some(b"d"), b""),
        Err(NarWriteError::InvalidTarget { .. })
    ));
    assert!(matches!(
        w.file(None, false, 0, &mut &b""[..]),
        Err(NarWriteError::Order(_))
    ));
    let mut w = NarWriter::new(Vec::new());
    w.start_directory(None).unwrap();
    assert!(matches!(w.finish(), Err(NarWriteError::Order(_))));
}

#[test]
fn large_file_streams_in_chunks() {
    // 3 MiB + 3 bytes: crosses the chunk size and needs padding.
    let data: Vec<u8> = (0..(3 << 20) + 3).map(|i| (i % 251) as u8).collect();
    let mut w = NarWriter::new(Vec::new());
    w.file(None, true, data.len() as u64, &mut &data[..])
        .unwrap();
    let nar = w.finish().unwrap();
    let ev = read_all(&nar).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1, data);
}

/// A root directory holding the given raw entry parts.
fn dir_nar(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v = raw(&[MAGIC, b"(", b"type", b"directory"]);
    for e in entries {
        v.extend_from_slice(e);
    }
    v.extend(s(b")"));
    v
}

fn empty_file_entry(name: &[u8]) -> Vec<u8> {
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
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend(raw(&[b")", b")"]));
    v
}

/// Offset of the name string of the first entry of a `dir_nar`.
fn first_name_offset() -> u64 {
    (raw(&[MAGIC, b"(", b"type", b"directory"]).len() + raw(&[b"entry", b"(", b"name"]).len())
        as u64
}

#[test]
fn bad_names_are_rejected_with_offset() {
    for (name, problem) in [
        (&b""[..], NameProblem::Empty),
        (b".", NameProblem::Dot),
        (b"..", NameProblem::DotDot),
        (b"a/b", NameProblem::Slash),
        (b"a\0b", NameProblem::Nul),
    ] {
        let err = read_all(&dir_nar(&[empty_file_entry(name)])).unwrap_err();
        match err {
            NarError::InvalidName {
                offset, problem: p, ..
            } => {
                assert_eq!((offset, p), (first_name_offset(), problem), "{name:?}")
            }
            e => panic!("{name:?}: wrong error {e}"),
        }
    }
}

#[test]
fn unsorted_and_duplicate_entries_are_rejected() {
    let second = first_name_offset() + empty_file_entry(b"b").len() as u64;
    let err = read_all(&dir_nar(&[empty_file_entry(b"b"), empty_file_entry(b"a")])).unwrap_err();
    assert!(
        matches!(err, NarError::Unsorted { offset, .. } if offset == second),
        "{err}"
    );
    let err = read_all(&dir_nar(&[empty_file_entry(b"b"), empty_file_entry(b"b")])).unwrap_err();
    assert!(
        matches!(err, NarError::Duplicate { offset, .. } if offset == second),
        "{err}"
    );
    // Byte order, not locale order: "B" (0x42) sorts before "a" (0x61).
    read_all(&dir_nar(&[empty_file_entry(b"B"), empty_file_entry(b"a")])).unwrap();
}

#[test]
fn truncation_anywhere_is_an_error() {
    let nar = sample();
    for cut in 0..nar.len() {
        let err = read_all(&nar[..cut]).unwrap_err();
        assert!(
            matches!(err, NarError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(
            err.offset() <= cut as u64,
            "cut at {cut}: offset {}",
            err.offset()
        );
    }
}

#[test]
fn non_zero_padding_is_an_error() {
    let mut nar = sample();
    // The padding after "hello" in the first file.
    let at = nar.windows(8).position(|w| w == b"hello\0\0\0").unwrap() + 6;
    nar[at] = 1;
    let err = read_all(&nar).unwrap_err();
    assert!(
        matches!(err, NarError::NonZeroPadding { offset } if offset == at as u64),
        "{err}"
    );
    // Padding of a keyword: byte 8 + 13 is the first padding byte of the magic.
    let mut nar = sample();
    nar[21] = b' ';
    assert!(matches!(
        read_all(&nar).unwrap_err(),
        NarError::NonZeroPadding { offset: 21 }
    ));
}

#[test]
fn unknown_tokens_and_bad_magic() {
    let err = read_all(&raw(&[b"nix-archive-2"])).unwrap_err();
    assert!(matches!(err, NarError::BadMagic { .. }), "{err}");
    let err = read_all(&raw(&[MAGIC, b"(", b"type", b"fifo"])).unwrap_err();
    assert!(
        matches!(err, NarError::UnexpectedToken { offset: 56, .. }),
        "{err}"
    );
    let err = read_all(&raw(&[MAGIC, b"(", b"kind"])).unwrap_err();
    assert!(
        matches!(
            err,
            NarError::UnexpectedToken {
                offset: 40,
                expected: "type",
                ..
            }
        ),
        "{err}"
    );
    let err = read_all(&dir_nar(&[raw(&[b"entri"])])).unwrap_err();
    assert!(
        matches!(err, NarError::UnexpectedToken { offset: 80, .. }),
        "{err}"
    );
    let err = read_all(&raw(&[
        MAGIC,
        b"(",
        b"type",
        b"regular",
        b"executable",
        b"x",
    ]))
    .unwrap_err();
    assert!(
        matches!(err, NarError::NonEmptyExecutableMarker { offset: 96 }),
        "{err}"
    );
    let mut bad_target = raw(&[MAGIC, b"(", b"type", b"symlink", b"target", b"a\0b"]);
    bad_target.extend(s(b")"));
    let err = read_all(&bad_target).unwrap_err();
    assert!(
        matches!(err, NarError::InvalidSymlinkTarget { offset: 88, .. }),
        "{err}"
    );
}

#[test]
fn absurd_lengths_are_rejected_without_allocating() {
    // A name claiming 2^63 bytes.
    let mut nar = raw(&[MAGIC, b"(", b"type", b"directory", b"entry", b"(", b"name"]);
    let at = nar.len() as u64;
    nar.extend_from_slice(&(1u64 << 63).to_le_bytes());
    let err = read_all(&nar).unwrap_err();
    assert!(
        matches!(err, NarError::TooLong { offset, len, .. } if offset == at && len == 1 << 63),
        "{err}"
    );
    // A keyword claiming u64::MAX bytes.
    let mut nar = raw(&[MAGIC]);
    nar.extend_from_slice(&u64::MAX.to_le_bytes());
    let err = read_all(&nar).unwrap_err();
    assert!(
        matches!(err, NarError::UnexpectedToken { offset: 24, .. }),
        "{err}"
    );
    // A symlink target longer than PATH_MAX.
    let long = vec![b'x'; MAX_TARGET_LEN + 1];
    let err = read_all(&raw(&[MAGIC, b"(", b"type", b"symlink", b"target", &long])).unwrap_err();
    assert!(matches!(err, NarError::TooLong { offset: 88, .. }), "{err}");
    // A file claiming more contents than the stream has is truncation, found lazily.
    let mut nar = raw(&[MAGIC, b"(", b"type", b"regular", b"contents"]);
    nar.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        read_all(&nar).unwrap_err(),
        NarError::Truncated { .. }
    ));
}
