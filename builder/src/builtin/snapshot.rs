//! Debian's snapshot service as the last source of a pinned `.deb`.
//!
//! Debian's archive serves only current versions, so a pin older than the
//! latest security update vanishes from it. The snapshot service keeps every
//! file the archive ever published and finds them by package and version
//! through its machine-readable API:
//!
//! - `GET <base>/mr/binary/<package>/<version>/binfiles?fileinfo=1` lists the
//!   files of that binary version (`result: [{hash, architecture}]`, the hash
//!   being the file's SHA-1) with their names and sizes (`fileinfo`);
//! - `GET <base>/file/<sha1>` serves one file.
//!
//! The base address is configuration (`B8G_DEBIAN_SNAPSHOT_URL`), never written
//! in the code. Every read is bounded — the listing by [`MAX_LISTING`], the file
//! by the size the listing states — and the file is checked against the pin's
//! sha256 before it is handed over, so a wrong answer is refused with the URL
//! that gave it. This module does not decide when to ask the service: the
//! `b8g-fetch-deb` builder asks it after the archive failed.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// The environment variable holding the service's base address.
pub const SNAPSHOT_URL_VAR: &str = "B8G_DEBIAN_SNAPSHOT_URL";

/// The largest API answer read (a listing is a few hundred bytes).
pub const MAX_LISTING: u64 = 1 << 20;

/// The largest package accepted, whatever the listing says.
pub const MAX_DEB: u64 = 4 << 30;

/// Why the snapshot service could not serve a pin.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{url}: {msg}")]
    Http { url: String, msg: String },
    #[error("{url}: the snapshot service does not know {package}={version}")]
    NotFound {
        url: String,
        package: String,
        version: String,
    },
    #[error("{url}: unexpected answer: {msg}")]
    BadListing { url: String, msg: String },
    #[error("{url}: answer exceeds {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: sha256 {got} is not the pinned {wanted}")]
    HashMismatch {
        url: String,
        wanted: String,
        got: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// One file of a binary version, as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The SHA-1 the service names files by.
    pub sha1: String,
    pub name: String,
    pub size: u64,
}

/// A client of one snapshot service.
pub struct DebianSnapshot {
    base: String,
    agent: ureq::Agent,
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`+` and `:`
/// of Debian versions included).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl DebianSnapshot {
    pub fn new(base: &str) -> DebianSnapshot {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(20))
            .timeout_read(Duration::from_secs(60))
            .build();
        DebianSnapshot {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The service configured in the environment, if any.
    pub fn from_env() -> Option<DebianSnapshot> {
        std::env::var(SNAPSHOT_URL_VAR)
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| DebianSnapshot::new(s.trim()))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn get(&self, url: &str) -> Result<Option<Box<dyn Read + Send + Sync>>, SnapshotError> {
        match self.agent.get(url).call() {
            Ok(r) => Ok(Some(r.into_reader())),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(SnapshotError::Http {
                url: url.to_owned(),
                msg: e.to_string(),
            }),
        }
    }

    /// The `.deb` of `package` at `version` for amd64 (or `all`).
    pub fn locate(&self, package: &str, version: &str) -> Result<SnapshotFile, SnapshotError> {
        let url = format!(
            "{}/mr/binary/{}/{}/binfiles?fileinfo=1",
            self.base,
            encode(package),
            encode(version)
        );
        let not_found = || SnapshotError::NotFound {
            url: url.clone(),
            package: package.to_owned(),
            version: version.to_owned(),
        };
        let reader = self.get(&url)?.ok_or_else(not_found)?;
        let mut body = Vec::new();
        reader
            .take(MAX_LISTING + 1)
            .read_to_end(&mut body)
            .map_err(|e| SnapshotError::Http {
                url: url.clone(),
                msg: e.to_string(),
            })?;
        if body.len() as u64 > MAX_LISTING {
            return Err(SnapshotError::TooLarge {
                url,
                limit: MAX_LISTING,
            });
        }
        parse_listing(&body, package, version)
            .map_err(|msg| SnapshotError::BadListing {
                url: url.clone(),
                msg,
            })?
            .ok_or_else(not_found)
    }

    /// Downloads `file` into `dest` (created), refusing more bytes than the
    /// listing stated or a sha256 other than `sha256` (lowercase hex). On any
    /// error `dest` does not exist.
    pub fn download(
        &self,
        file: &SnapshotFile,
        sha256: &str,
        dest: &Path,
    ) -> Result<(), SnapshotError> {
        let url = format!("{}/file/{}", self.base, encode(&file.sha1));
        let limit = file.size.min(MAX_DEB);
        let reader = self.get(&url)?.ok_or_else(|| SnapshotError::Http {
            url: url.clone(),
            msg: "404 for a file the listing names".into(),
        })?;
        let result = copy_checked(reader, &url, limit, sha256, dest);
        if result.is_err() {
            let _ = fs::remove_file(dest);
        }
        result
    }
}

/// Streams at most `limit` bytes into a new file at `dest`, hashing them.
fn copy_checked(
    reader: impl Read,
    url: &str,
    limit: u64,
    sha256: &str,
    dest: &Path,
) -> Result<(), SnapshotError> {
    let io = |op: &'static str| {
        move |source| SnapshotError::Io {
            op,
            path: dest.display().to_string(),
            source,
        }
    };
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(io("create"))?;
    let mut hasher = Sha256::new();
    let mut reader = reader.take(limit + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| SnapshotError::Http {
            url: url.to_owned(),
            msg: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(SnapshotError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io("write"))?;
    }
    let got = hex(&hasher.finalize());
    if got != sha256.to_ascii_lowercase() {
        return Err(SnapshotError::HashMismatch {
            url: url.to_owned(),
            wanted: sha256.to_owned(),
            got,
        });
    }
    out.sync_all().map_err(io("flush"))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The amd64 (else `all`) file of a binfiles listing; `None` when it lists none.
fn parse_listing(
    body: &[u8],
    package: &str,
    version: &str,
) -> Result<Option<SnapshotFile>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let results = v
        .get("result")
        .and_then(|r| r.as_array())
        .ok_or("no result list")?;
    let pick = |arch: &str| {
        results.iter().find_map(|r| {
            (r.get("architecture")?.as_str()? == arch)
                .then(|| r.get("hash")?.as_str().map(str::to_owned))
                .flatten()
        })
    };
    let Some(sha1) = pick("amd64").or_else(|| pick("all")) else {
        return Ok(None);
    };
    if sha1.len() != 40 || !sha1.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("file hash {sha1:?} is not a SHA-1"));
    }
    // The file's name and size; the name must be the package's own .deb.
    let infos = v
        .get("fileinfo")
        .and_then(|f| f.get(&sha1))
        .and_then(|f| f.as_array())
        .ok_or_else(|| format!("no fileinfo for {sha1}"))?;
    let bare_version = version.split_once(':').map_or(version, |(_, r)| r);
    let prefix = format!("{package}_{bare_version}_");
    let info = infos
        .iter()
        .find(|i| {
            i.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .ok_or_else(|| format!("fileinfo of {sha1} names no {prefix}*.deb"))?;
    let size = info
        .get("size")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| format!("fileinfo of {sha1} has no size"))?;
    Ok(Some(SnapshotFile {
        sha1,
        name: info["name"].as_str().unwrap_or_default().to_owned(),
        size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"{"_comment":"foo","binary":"nginx","binary_version":"1.22.1-9+deb12u11",
      "fileinfo":{"0123456789abcdef0123456789abcdef01234567":[{"archive_name":"debian-security",
      "first_seen":"20261120T000000Z","name":"nginx_1.22.1-9+deb12u11_amd64.deb",
      "path":"/pool/updates/main/n/nginx","size":1234}]},
      "result":[{"architecture":"arm64","hash":"ffffffffffffffffffffffffffffffffffffffff"},
                {"architecture":"amd64","hash":"0123456789abcdef0123456789abcdef01234567"}]}"#;

    #[test]
    fn listing_picks_the_amd64_deb() {
        let f = parse_listing(LISTING.as_bytes(), "nginx", "1.22.1-9+deb12u11")
            .expect("parses")
            .expect("found");
        assert_eq!(f.sha1, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(f.size, 1234);
        assert_eq!(f.name, "nginx_1.22.1-9+deb12u11_amd64.deb");
    }

    #[test]
    fn listing_naming_another_package_is_refused() {
        let e = parse_listing(LISTING.as_bytes(), "nginx-common", "1.22.1-9+deb12u11")
            .expect_err("names nginx, not nginx-common");
        assert!(e.contains("nginx-common_1.22.1-9+deb12u11_"), "{e}");
    }

    #[test]
    fn versions_are_percent_encoded() {
        assert_eq!(
            encode("1:1.35.0-4+deb12u1+b1"),
            "1%3A1.35.0-4%2Bdeb12u1%2Bb1"
        );
        assert_eq!(encode("libstdc++6"), "libstdc%2B%2B6");
    }

    #[test]
    fn download_refuses_bytes_beyond_the_listed_size_and_a_wrong_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("x.deb");
        let data = b"0123456789";
        let run = |limit, sha: &str| {
            let _ = fs::remove_file(&dest);
            copy_checked(&data[..], "u", limit, sha, &dest)
        };
        let good = hex(&Sha256::digest(data));
        let e = run(5, &good).expect_err("too long");
        assert!(matches!(e, SnapshotError::TooLarge { .. }), "{e}");
        let e = run(10, &"0".repeat(64)).expect_err("wrong hash");
        assert!(matches!(e, SnapshotError::HashMismatch { .. }), "{e}");
        run(10, &good).expect("matches");
        assert_eq!(fs::read(&dest).expect("written"), data);
    }
}
