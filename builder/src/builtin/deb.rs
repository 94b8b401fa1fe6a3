//! Debian packages as bootstrap seeds.
//!
//! `builtin:b8g-fetch-deb` downloads one pinned package with the host's
//! `apt-get download` (so no archive host name is written anywhere); it is a
//! fixed-output derivation, so the realiser checks the bytes against the pinned
//! sha256 before anything is registered. `builtin:b8g-unpack-deb` extracts the
//! package's `data.tar.*` (xz, zstd, gzip or plain) into the output, each
//! entry created through [`OutputTree`] so that no symlink, not even one the
//! archive made itself, is followed.

use super::fsroot::{checked_relative, OutputTree};
use super::snapshot::{DebianSnapshot, SNAPSHOT_URL_VAR};
use super::{io, BuiltinBuilder, BuiltinContext, BuiltinError};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// The `b8g-fetch-deb` builtin builder, with the snapshot service it falls
/// back to when the archive no longer serves a pin (none: no fallback).
#[derive(Default)]
pub struct FetchDeb {
    snapshot: Option<String>,
}

impl FetchDeb {
    /// The snapshot service from `B8G_DEBIAN_SNAPSHOT_URL`, if set.
    pub fn from_env() -> FetchDeb {
        FetchDeb {
            snapshot: DebianSnapshot::from_env().map(|s| s.base().to_owned()),
        }
    }

    /// Falls back to the snapshot service at `base`.
    pub fn with_snapshot(base: &str) -> FetchDeb {
        FetchDeb {
            snapshot: Some(base.to_owned()),
        }
    }
}

impl BuiltinBuilder for FetchDeb {
    fn name(&self) -> &'static str {
        "b8g-fetch-deb"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let package = cx.attr("package", "b8g-fetch-deb")?;
        let version = cx.attr("version", "b8g-fetch-deb")?;
        let out = cx.out()?;
        // Only fixed-output derivations may reach the network, and only they
        // are checked against a pinned hash before anything is registered.
        if !cx.env.contains_key("outputHash") {
            return Err(BuiltinError::Other(format!(
                "builtin:b8g-fetch-deb downloads from the network, so it serves only \
                 fixed-output derivations; {package}={version} has no outputHash"
            )));
        }
        // Debian policy: names and versions start with an alphanumeric
        // character, so neither can be taken for an option of apt-get.
        let valid = |s: &str, extra: &[u8]| {
            s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
        };
        if !valid(package, b"+-.") || !valid(version, b"+-.:~") {
            return Err(BuiltinError::Other(format!(
                "invalid Debian package pin {package:?}={version:?}: names are [a-z0-9][a-z0-9+.-]*, \
                 versions [0-9a-z][0-9a-zA-Z+.:~-]*"
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix("b8g-fetch-deb")
            .tempdir()
            .map_err(io("create temporary directory", Path::new("/tmp")))?;
        let output = Command::new("apt-get")
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .arg(format!("{package}={version}"))
            .current_dir(tmp.path())
            .output()
            .map_err(io("run apt-get download in", tmp.path()))?;
        if !output.status.success() {
            let archive = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            let deb = tmp.path().join("from-snapshot.deb");
            from_snapshot(
                self.snapshot.as_deref(),
                cx,
                package,
                version,
                &deb,
                &archive,
            )?;
            let file = fs::File::open(&deb).map_err(io("open", &deb))?;
            return out.write_from("", file, 0o444);
        }
        let deb = fs::read_dir(tmp.path())
            .map_err(io("read directory", tmp.path()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .ok_or_else(|| {
                BuiltinError::Other(format!(
                    "apt-get download {package}={version} produced no .deb"
                ))
            })?;
        let file = fs::File::open(&deb).map_err(io("open", &deb))?;
        out.write_from("", file, 0o444)
    }
}

/// The last source of a pin the archive no longer serves: Debian's snapshot
/// service, when one is configured; the checked file is left at `dest` (a
/// private scratch path). `archive` is apt's complaint, kept for the message
/// when this fails too.
fn from_snapshot(
    snapshot: Option<&str>,
    cx: &BuiltinContext<'_>,
    package: &str,
    version: &str,
    dest: &Path,
    archive: &str,
) -> Result<(), BuiltinError> {
    // Pins of the seeds are refreshed one by one; others (Debian's packages as
    // components) name their own command.
    let command = cx
        .env
        .get("lockCommand")
        .cloned()
        .unwrap_or_else(|| format!("b8g bootstrap lock --only {package}"));
    let vanished = |why: String| {
        BuiltinError::Other(format!(
            "cannot download the pinned package {package}={version}: the archive does not serve it \
             ({archive}), and {why}. Run `{command}` to refresh the pin \
             (after `apt-get update`), or configure a b8g cache that holds it."
        ))
    };
    let Some(snapshot) = snapshot.map(DebianSnapshot::new) else {
        return Err(vanished(format!(
            "no snapshot service is configured (set {SNAPSHOT_URL_VAR})"
        )));
    };
    let sha256 = cx
        .env
        .get("outputHash")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| vanished("the pin's outputHash is not a hex sha256".into()))?;
    let file = snapshot
        .locate(package, version)
        .map_err(|e| vanished(format!("the snapshot service failed: {e}")))?;
    snapshot
        .download(&file, sha256, dest)
        .map_err(|e| vanished(format!("the snapshot service failed: {e}")))
}

/// The `b8g-unpack-deb` builtin builder.
pub struct UnpackDeb;

impl BuiltinBuilder for UnpackDeb {
    fn name(&self) -> &'static str {
        "b8g-unpack-deb"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let src = cx.open(cx.attr("src", "b8g-unpack-deb")?)?;
        let shown = src.path().to_path_buf();
        unpack_deb(src.into_file(), &shown, &cx.out()?)
    }
}

/// Extracts the `data.tar.*` member of the Debian package `deb` (named
/// `shown` in messages) as the directory `out`.
pub fn unpack_deb(deb: fs::File, shown: &Path, out: &OutputTree) -> Result<(), BuiltinError> {
    let mut archive = ar::Archive::new(std::io::BufReader::new(deb));
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(io("read ar archive", shown))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).to_string();
        let data: Box<dyn Read> = match name.as_str() {
            "data.tar" => Box::new(entry),
            "data.tar.xz" => Box::new(xz2::read::XzDecoder::new(entry)),
            "data.tar.zst" => {
                Box::new(zstd::stream::read::Decoder::new(entry).map_err(io("decompress", shown))?)
            }
            "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            _ => continue,
        };
        out.create_dir("", 0o755)?;
        return unpack_tar(data, shown, out);
    }
    Err(BuiltinError::Other(format!(
        "{} has no data.tar member: not a Debian package",
        shown.display()
    )))
}

/// Unpacks a tar stream beneath `out` (which exists): directories, regular
/// files, symlinks and hard links to earlier entries; anything else (devices,
/// FIFOs) is refused. Permission bits are kept (without set-id bits).
fn unpack_tar(data: impl Read, shown: &Path, out: &OutputTree) -> Result<(), BuiltinError> {
    let bad = |why: String| BuiltinError::Other(format!("{}: {why}", shown.display()));
    let mut tar = tar::Archive::new(data);
    // Raw entries: the tar crate would read GNU long-name and PAX records
    // whole into memory, however large they claim to be (a 36 KB .deb made
    // b8g-build take 3 GB). They are read here, bounded, and applied to the
    // next entry as the crate would.
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let entries = tar.entries().map_err(io("read data of", shown))?.raw(true);
    for entry in entries {
        let mut entry = entry.map_err(io("read data of", shown))?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() || kind.is_gnu_longlink() || kind.is_pax_local_extensions() {
            let record = read_record(&mut entry).map_err(|why| bad(why.to_string()))?;
            if kind.is_gnu_longname() {
                long_name = Some(trim_nuls(record));
            } else if kind.is_gnu_longlink() {
                long_link = Some(trim_nuls(record));
            } else {
                for (key, value) in pax_records(&record) {
                    match key {
                        b"path" => long_name = Some(value.to_vec()),
                        b"linkpath" => long_link = Some(value.to_vec()),
                        _ => {}
                    }
                }
            }
            continue;
        }
        if kind.is_pax_global_extensions() {
            read_record(&mut entry).map_err(|why| bad(why.to_string()))?;
            continue;
        }
        let name_bytes = match long_name.take() {
            Some(n) => n,
            None => entry.path_bytes().into_owned(),
        };
        let link_bytes = match long_link.take() {
            Some(l) => Some(l),
            None => entry.link_name_bytes().map(|l| l.into_owned()),
        };
        let raw = String::from_utf8(name_bytes)
            .map_err(|e| bad(format!("entry {:?} is not UTF-8", e.as_bytes())))?;
        let rel = relative_member(&raw).ok_or_else(|| bad(format!("entry {raw:?} escapes")))?;
        let mode = entry.header().mode().map_err(io("read data of", shown))? & 0o777;
        if rel.is_empty() {
            if kind.is_dir() {
                continue;
            }
            return Err(bad(format!("entry {raw:?} is not a directory")));
        }
        if let Some((parent, _)) = rel.rsplit_once('/') {
            out.create_dir_all(parent)?;
        }
        if kind.is_dir() {
            if !out.is_dir(&rel)? {
                out.create_dir(&rel, 0o755)?;
            }
        } else if kind.is_file() {
            out.write_from(&rel, &mut entry, mode)?;
        } else if kind.is_symlink() {
            let target = link_bytes.ok_or_else(|| bad(format!("symlink {raw:?} has no target")))?;
            let target = String::from_utf8(target)
                .map_err(|_| bad(format!("symlink {raw:?} has a target that is not UTF-8")))?;
            out.symlink(&rel, &target)?;
        } else if kind.is_hard_link() {
            let target =
                link_bytes.ok_or_else(|| bad(format!("hard link {raw:?} has no target")))?;
            let target = std::str::from_utf8(&target)
                .ok()
                .and_then(relative_member)
                .ok_or_else(|| bad(format!("hard link {raw:?} escapes")))?;
            out.hard_link(&target, &rel)?;
        } else {
            return Err(bad(format!(
                "entry {raw:?} is of an unsupported type {kind:?}"
            )));
        }
    }
    Ok(())
}

/// The most a long-name or PAX record may hold (names are at most a few KiB).
const MAX_RECORD: u64 = 64 << 10;

/// The data of a long-name or PAX record, refused beyond [`MAX_RECORD`].
fn read_record(entry: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    entry
        .take(MAX_RECORD + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read a tar name record: {e}"))?;
    if data.len() as u64 > MAX_RECORD {
        return Err(format!(
            "a tar name record is longer than {MAX_RECORD} bytes"
        ));
    }
    Ok(data)
}

/// A GNU long name without its terminating NULs.
fn trim_nuls(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// The `key=value` records of a PAX header (`<len> key=value\n` each);
/// malformed ones end the list.
fn pax_records(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|&l| l > sp + 1 && l <= rest.len())
        else {
            break;
        };
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        rest = &rest[len..];
    }
    out
}

/// A tar member name (`./usr/bin/x`, `usr/bin/x/`, `/usr/bin/x`) as a plain
/// path relative to the output, or `None` when it has `..`. A leading `/` is
/// dropped, as GNU tar and the `tar` crate do.
fn relative_member(raw: &str) -> Option<String> {
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let rel = parts.join("/");
    checked_relative(&rel).ok()?;
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(deb: &Path, out: &Path) -> Result<(), BuiltinError> {
        unpack_deb(
            fs::File::open(deb).unwrap(),
            deb,
            &OutputTree::new(out).unwrap(),
        )
    }

    /// Builds a tiny .deb in memory: ar with debian-binary and an xz data tarball.
    fn fake_deb(dir: &Path) -> std::path::PathBuf {
        let mut tarball = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o755);
        h.set_cksum();
        tarball
            .append_data(&mut h, "./bin/tool", &b"#!sh\n"[..])
            .unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        std::io::Write::write_all(&mut xz, &tarball.into_inner().unwrap()).unwrap();
        let data = xz.finish().unwrap();
        let path = dir.join("t.deb");
        let mut b = ar::Builder::new(fs::File::create(&path).unwrap());
        b.append(
            &ar::Header::new(b"debian-binary".to_vec(), 4),
            &b"2.0\n"[..],
        )
        .unwrap();
        b.append(
            &ar::Header::new(b"data.tar.xz".to_vec(), data.len() as u64),
            &data[..],
        )
        .unwrap();
        path
    }

    #[test]
    fn unpacks_data_member_with_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let deb = fake_deb(dir.path());
        let out = dir.path().join("out");
        unpack(&deb, &out).unwrap();
        let tool = out.join("bin/tool");
        assert_eq!(fs::read(&tool).unwrap(), b"#!sh\n");
        assert_eq!(
            fs::metadata(&tool).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    /// A .deb whose data.tar.zst is `tar` as it is.
    fn deb_with_tar(dir: &Path, tar: &[u8]) -> std::path::PathBuf {
        let data = zstd::encode_all(tar, 1).unwrap();
        let path = dir.join("t.deb");
        let mut b = ar::Builder::new(fs::File::create(&path).unwrap());
        b.append(
            &ar::Header::new(b"debian-binary".to_vec(), 4),
            &b"2.0\n"[..],
        )
        .unwrap();
        b.append(
            &ar::Header::new(b"data.tar.zst".to_vec(), data.len() as u64),
            &data[..],
        )
        .unwrap();
        path
    }

    /// Names longer than a header holds arrive as GNU long-name and
    /// long-link records (as dpkg-deb writes them) or as PAX records.
    #[test]
    fn long_names_and_links_from_gnu_and_pax_records() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("./usr/share/{}/file", "d".repeat(150));
        let target = format!("../../{}", "t".repeat(140));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "./usr/lnk", &target).unwrap();
        let pax_name = format!("usr/{}/pax", "p".repeat(120));
        b.append_pax_extensions([("path", pax_name.as_bytes())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("usr/short").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let deb = deb_with_tar(dir.path(), &b.into_inner().unwrap());
        let out = dir.path().join("out");
        unpack(&deb, &out).unwrap();
        assert_eq!(
            fs::read(out.join(long.trim_start_matches("./"))).unwrap(),
            b"abc"
        );
        assert_eq!(
            fs::read_link(out.join("usr/lnk"))
                .unwrap()
                .to_str()
                .unwrap(),
            target
        );
        assert_eq!(fs::read(out.join(&pax_name)).unwrap(), b"x");
        assert!(!out.join("usr/short").exists(), "the PAX path applies");
    }

    /// The second attack pass's finding: a 36 KB .deb whose data.tar starts
    /// with a GNU long-name record claiming 1 GiB made b8g-build buffer it
    /// whole. Now it is refused at 64 KiB. (64 MiB here keeps the test quick.)
    #[test]
    fn huge_long_name_and_pax_records_are_refused_without_buffering() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [b'L', b'K', b'x', b'g'] {
            let claimed: u64 = 64 << 20;
            let mut h = tar::Header::new_gnu();
            h.set_path("././@LongLink").unwrap();
            h.set_entry_type(tar::EntryType::new(kind));
            h.set_size(claimed);
            h.set_mode(0o644);
            h.set_cksum();
            let mut tar = h.as_bytes().to_vec();
            tar.resize(tar.len() + claimed as usize, b'a');
            let deb = deb_with_tar(dir.path(), &tar);
            let out = dir.path().join(format!("out-{kind}"));
            let err = unpack(&deb, &out).expect_err("refused").to_string();
            assert!(
                err.contains("longer than 65536 bytes"),
                "{}: {err}",
                kind as char
            );
        }
    }

    #[test]
    fn member_names_are_made_relative_or_refused() {
        assert_eq!(relative_member("./usr/bin/x").as_deref(), Some("usr/bin/x"));
        assert_eq!(relative_member("/etc/x/").as_deref(), Some("etc/x"));
        assert_eq!(relative_member("./").as_deref(), Some(""));
        assert_eq!(relative_member("a/../../x"), None);
        assert_eq!(relative_member(".."), None);
    }

    #[test]
    fn not_a_deb_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.deb");
        fs::write(&p, b"!<arch>\n").unwrap();
        assert!(unpack(&p, &dir.path().join("out")).is_err());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// A tar member header with `name` and `link` written as raw bytes,
        /// so hostile names (`..`, absolute) reach the unpacker.
        fn header(kind: u8, name: &str, link: &str, size: u64) -> tar::Header {
            let mut h = tar::Header::new_old();
            let raw = h.as_old_mut();
            let n = name.len().min(99);
            raw.name[..n].copy_from_slice(&name.as_bytes()[..n]);
            let l = link.len().min(99);
            raw.linkname[..l].copy_from_slice(&link.as_bytes()[..l]);
            h.set_entry_type(match kind {
                0 => tar::EntryType::Regular,
                1 => tar::EntryType::Directory,
                2 => tar::EntryType::Symlink,
                _ => tar::EntryType::Link,
            });
            h.set_mode(0o755);
            h.set_size(size);
            h.set_cksum();
            h
        }

        fn name() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just("..".to_string()),
                    Just(".".to_string()),
                    Just(String::new()),
                    "[abl]",
                ],
                1..4,
            )
            .prop_map(|p| p.join("/"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

            /// Whatever the archive holds (symlinks out, `..`, absolute names,
            /// entries beneath earlier links), nothing appears outside the output.
            #[test]
            fn unpacking_stays_beneath_the_output(
                entries in proptest::collection::vec((0u8..4, name(), name(), any::<bool>()), 0..8),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let outside = dir.path().join("outside");
                fs::create_dir(&outside).unwrap();
                fs::write(outside.join("a"), "original").unwrap();
                let mut t = tar::Builder::new(Vec::new());
                for (kind, name, link, abs) in &entries {
                    let link = if *abs { format!("{}/{link}", outside.display()) } else { link.clone() };
                    let data: &[u8] = if *kind == 0 { b"pwned" } else { b"" };
                    let h = header(*kind, name, &link, data.len() as u64);
                    t.append(&h, data).unwrap();
                }
                let data = t.into_inner().unwrap();
                let deb = dir.path().join("x.deb");
                let mut b = ar::Builder::new(fs::File::create(&deb).unwrap());
                b.append(&ar::Header::new(b"data.tar".to_vec(), data.len() as u64), &data[..]).unwrap();
                drop(b);
                fs::create_dir(dir.path().join("staging")).unwrap();
                let out = OutputTree::new(&dir.path().join("staging/out")).unwrap();
                let _ = unpack_deb(fs::File::open(&deb).unwrap(), &deb, &out);
                let names: Vec<_> = fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
                prop_assert_eq!(names, vec!["a"]);
                prop_assert_eq!(fs::read_to_string(outside.join("a")).unwrap(), "original");
                let mut top: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
                top.sort();
                prop_assert_eq!(top, vec!["outside", "staging", "x.deb"]);
                let staged: Vec<_> = fs::read_dir(dir.path().join("staging")).unwrap().map(|e| e.unwrap().file_name()).collect();
                prop_assert!(staged.iter().all(|n| n == "out"));
            }
        }
    }
}
