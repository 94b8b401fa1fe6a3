//! Fuzzes the NAR reader: any byte string must parse or fail with a typed
//! error, never panic, hang or allocate absurdly. Whatever parses must
//! re-serialise (through the writer) to exactly the bytes it was read from,
//! since a NAR is canonical.
#![no_main]

use b8g_store::format::nar::{Event, NarReader, NarWriter, Node};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = NarReader::new(data);
    let mut writer = NarWriter::new(Vec::new());
    loop {
        match reader.next() {
            Ok(None) => break,
            Ok(Some(Event::EndDirectory)) => writer.end_directory().expect("reader validated it"),
            Ok(Some(Event::Node { name, node })) => {
                let name = name.as_deref();
                match node {
                    Node::Directory => writer.start_directory(name).expect("valid directory"),
                    Node::Symlink { target } => writer.symlink(name, &target).expect("valid symlink"),
                    Node::File { executable, size } => {
                        if size > 1 << 24 {
                            // Contents longer than the input are truncated; not worth buffering.
                            if reader.validate_all().is_ok() {
                                panic!("a NAR shorter than its file validated");
                            }
                            return;
                        }
                        let mut contents = Vec::new();
                        let mut buf = [0u8; 4096];
                        loop {
                            match reader.read_contents(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => contents.extend_from_slice(&buf[..n]),
                                Err(e) => {
                                    let _ = e.to_string();
                                    return;
                                }
                            }
                        }
                        writer
                            .file(name, executable, size, &mut &contents[..])
                            .expect("valid file");
                    }
                }
            }
            Err(e) => {
                assert!(e.offset() <= data.len() as u64, "offset past the input: {e}");
                let _ = e.to_string();
                return;
            }
        }
    }
    let consumed = reader.offset() as usize;
    let out = writer.finish().expect("complete NAR");
    assert_eq!(out, &data[..consumed], "re-serialisation differs");
});
