//! Debian packages as bootstrap seeds.
//!
//! `builtin:b8g-fetch-deb` downloads one pinned package with the host's
//! `apt-get download` (so no archive host name is written anywhere); it is a
//! fixed-output derivation, so the realiser checks the bytes against the pinned
//! sha256 before anything is registered. `builtin:b8g-unpack-deb` extracts the
//! package's `data.tar.*` (xz, zstd, gzip or plain) into the output.

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
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.:~_".contains(&b))
        };
        if !valid(package) || !valid(version) {
            return Err(BuiltinError::Other(format!(
                "invalid Debian package pin {package}={version}"
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
            return from_snapshot(
                self.snapshot.as_deref(),
                cx,
                package,
                version,
                out,
                &archive,
            );
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
        fs::copy(&deb, out).map_err(io("copy downloaded package to", out))?;
        Ok(())
    }
}

/// The last source of a pin the archive no longer serves: Debian's snapshot
/// service, when one is configured. `archive` is apt's complaint, kept for the
/// message when this fails too.
fn from_snapshot(
    snapshot: Option<&str>,
    cx: &BuiltinContext<'_>,
    package: &str,
    version: &str,
    out: &Path,
    archive: &str,
) -> Result<(), BuiltinError> {
    let vanished = |why: String| {
        BuiltinError::Other(format!(
            "cannot download the pinned seed {package}={version}: the archive does not serve it \
             ({archive}), and {why}. Run `b8g bootstrap lock --only {package}` to refresh the pin \
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
        .download(&file, sha256, out)
        .map_err(|e| vanished(format!("the snapshot service failed: {e}")))
}

/// The `b8g-unpack-deb` builtin builder.
pub struct UnpackDeb;

impl BuiltinBuilder for UnpackDeb {
    fn name(&self) -> &'static str {
        "b8g-unpack-deb"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        let src = (cx.resolve)(cx.attr("src", "b8g-unpack-deb")?)?;
        unpack_deb(&src, cx.out()?)
    }
}

/// Extracts the `data.tar.*` member of the Debian package at `deb` into `out` (created).
pub fn unpack_deb(deb: &Path, out: &Path) -> Result<(), BuiltinError> {
    let file = fs::File::open(deb).map_err(io("open", deb))?;
    let mut archive = ar::Archive::new(std::io::BufReader::new(file));
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(io("read ar archive", deb))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).to_string();
        let data: Box<dyn Read> = match name.as_str() {
            "data.tar" => Box::new(entry),
            "data.tar.xz" => Box::new(xz2::read::XzDecoder::new(entry)),
            "data.tar.zst" => {
                Box::new(zstd::stream::read::Decoder::new(entry).map_err(io("decompress", deb))?)
            }
            "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            _ => continue,
        };
        fs::create_dir(out).map_err(io("create directory", out))?;
        let mut tar = tar::Archive::new(data);
        tar.set_preserve_permissions(true);
        tar.set_preserve_mtime(false);
        tar.set_unpack_xattrs(false);
        tar.set_overwrite(false);
        // `unpack` refuses entries that would land outside `out` (.. or absolute paths).
        tar.unpack(out).map_err(io("unpack data of", deb))?;
        return Ok(());
    }
    Err(BuiltinError::Other(format!(
        "{} has no data.tar member: not a Debian package",
        deb.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        unpack_deb(&deb, &out).unwrap();
        let tool = out.join("bin/tool");
        assert_eq!(fs::read(&tool).unwrap(), b"#!sh\n");
        assert_eq!(
            fs::metadata(&tool).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn not_a_deb_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.deb");
        fs::write(&p, b"!<arch>\n").unwrap();
        assert!(unpack_deb(&p, &dir.path().join("out")).is_err());
    }
}
