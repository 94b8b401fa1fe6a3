//! Evaluation-time fetchers behind `builtins.fetchurl` and
//! `builtins.fetchTarball`: download a `file://`, `http://` or `https://` URL,
//! unpack a tarball, check the declared hash and hand back the file or tree
//! to add to the store.
//!
//! This module does not touch the store; `StoreHost::fetch` adds the result
//! (or, in a dry run, only computes its path). There is no cache across
//! evaluations (Nix keeps one with a time-to-live); within one evaluation the
//! host remembers what it fetched.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::host::FixedOutput;
use b8g_store::format::hash::{Encoding, Hash, HashAlgo};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unable to download '{url}': {reason}")]
    Download { url: String, reason: String },
    #[error("unable to download '{url}': unsupported URL scheme (only file://, http:// and https:// are)")]
    Scheme { url: String },
    #[error("{op} '{}': {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unpacking the tarball downloaded from '{url}': {reason}")]
    Unpack { url: String, reason: String },
    #[error("tarball '{url}' contains an unexpected number of top-level files ({count})")]
    TopLevel { url: String, count: usize },
    #[error("hashing '{}': {reason}", path.display())]
    Hash { path: PathBuf, reason: String },
    #[error(
        "hash mismatch in file downloaded from '{url}':\n         specified: {specified}\n         got:       {got}"
    )]
    Mismatch {
        url: String,
        specified: String,
        got: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FetchError + 'a {
    move |source| FetchError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Decodes `%XX` escapes in the path of a `file://` URL.
fn percent_decode(s: &str) -> Vec<u8> {
    fn hex_val(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Downloads `url` into the file `dest`.
pub fn download(url: &str, dest: &Path) -> Result<(), FetchError> {
    let fail = |reason: String| FetchError::Download {
        url: url.to_string(),
        reason,
    };
    if let Some(rest) = url.strip_prefix("file://") {
        // `file:///x` and `file://localhost/x` name the local file /x.
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        if !rest.starts_with('/') {
            return Err(fail("a file:// URL needs an absolute path".into()));
        }
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        use std::os::unix::ffi::OsStringExt;
        let src = PathBuf::from(std::ffi::OsString::from_vec(percent_decode(rest)));
        let meta = std::fs::metadata(&src).map_err(|e| fail(format!("{}: {e}", src.display())))?;
        if !meta.is_file() {
            return Err(fail(format!("{} is not a regular file", src.display())));
        }
        std::fs::copy(&src, dest).map_err(|e| fail(format!("{}: {e}", src.display())))?;
        return Ok(());
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(FetchError::Scheme {
            url: url.to_string(),
        });
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(30))
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => fail(format!("HTTP error {code} ({})", r.status_text())),
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    let mut out = File::create(dest).map_err(io("creating", dest))?;
    std::io::copy(&mut resp.into_reader(), &mut out).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// Unpacks the tarball `archive` (plain, gzip, xz or zstd, told apart by
/// their magic bytes) into `dest` and returns its single top-level entry, as
/// Nix's `fetchTarball` does.
pub fn unpack_tarball(url: &str, archive: &Path, dest: &Path) -> Result<PathBuf, FetchError> {
    let unpack_err = |reason: String| FetchError::Unpack {
        url: url.to_string(),
        reason,
    };
    let mut magic = [0u8; 6];
    let n = File::open(archive)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(io("reading", archive))?;
    let magic = &magic[..n];
    let file = BufReader::new(File::open(archive).map_err(io("reading", archive))?);
    let reader: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(file))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| unpack_err(e.to_string()))?)
    } else if magic.starts_with(b"BZh") {
        return Err(unpack_err("bzip2 tarballs are not supported".into()));
    } else {
        Box::new(file)
    };
    std::fs::create_dir_all(dest).map_err(io("creating", dest))?;
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(false);
    ar.set_unpack_xattrs(false);
    ar.unpack(dest).map_err(|e| unpack_err(e.to_string()))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(io("reading", dest))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io("reading", dest))?;
    if entries.len() != 1 {
        return Err(FetchError::TopLevel {
            url: url.to_string(),
            count: entries.len(),
        });
    }
    Ok(entries.remove(0))
}

/// The hash of a fetched file (flat) or tree (NAR).
pub fn hash_fetched(path: &Path, recursive: bool, algo: HashAlgo) -> Result<Hash, FetchError> {
    if recursive {
        let (h, _) = b8g_store::nar_fs::hash_path(path, algo).map_err(|e| FetchError::Hash {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(h)
    } else {
        let mut f = BufReader::new(File::open(path).map_err(io("reading", path))?);
        let mut sink = b8g_store::format::hash::HashSink::new(algo);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(io("reading", path))?;
            if n == 0 {
                break;
            }
            sink.update(&buf[..n]);
        }
        Ok(sink.finish().0)
    }
}

/// Checks the fetched content against the declared hash; returns the
/// content's hash (SHA-256 when nothing was declared, for the store path).
pub(crate) fn check(
    url: &str,
    path: &Path,
    recursive: bool,
    expected: Option<&FixedOutput>,
) -> Result<Hash, FetchError> {
    let Some(want) = expected else {
        return hash_fetched(path, recursive, HashAlgo::Sha256);
    };
    let got = hash_fetched(path, recursive, want.hash.algo())?;
    if got != want.hash {
        return Err(FetchError::Mismatch {
            url: url.to_string(),
            specified: want.hash.to_typed(Encoding::Nix32),
            got: got.to_typed(Encoding::Nix32),
        });
    }
    Ok(got)
}
