//! The store closure of an application, found by scanning its files for store
//! paths (as Nix finds references), since a builtin builder is handed only its
//! direct inputs. Every path found is followed in turn.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why a closure could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{0} is not a path in the store {1}")]
    NotInStore(String, String),
    #[error("cannot find {path}: {why}")]
    Resolve { path: String, why: String },
}

const NIX32: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+-._?=".contains(&b)
}

/// The store path (`<store_dir>/<hash>-<name>`) a path inside the store belongs to.
pub fn store_path_of(store_dir: &str, path: &str) -> Result<String, ClosureError> {
    let rest = path
        .strip_prefix(store_dir)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| ClosureError::NotInStore(path.into(), store_dir.into()))?;
    let first = rest.split('/').next().unwrap_or("");
    if first.len() < 34 || first.as_bytes()[32] != b'-' {
        return Err(ClosureError::NotInStore(path.into(), store_dir.into()));
    }
    Ok(format!("{store_dir}/{first}"))
}

/// Every `<store_dir>/<32 nix32 chars>-<name>` in `bytes`.
pub fn scan(store_dir: &str, bytes: &[u8], found: &mut BTreeSet<String>) {
    let needle = format!("{store_dir}/");
    let needle = needle.as_bytes();
    let mut i = 0;
    while i + needle.len() + 34 <= bytes.len() {
        let Some(off) = bytes[i..].windows(needle.len()).position(|w| w == needle) else {
            return;
        };
        let start = i + off + needle.len();
        i = start;
        let hash = &bytes[start..(start + 32).min(bytes.len())];
        if hash.len() < 32 || !hash.iter().all(|b| NIX32.contains(b)) {
            continue;
        }
        if bytes.get(start + 32) != Some(&b'-') {
            continue;
        }
        let mut end = start + 33;
        while end < bytes.len() && name_char(bytes[end]) {
            end += 1;
        }
        if end > start + 33 {
            found.insert(format!(
                "{store_dir}/{}",
                String::from_utf8_lossy(&bytes[start..end])
            ));
        }
        i = end;
    }
}

/// The closure of `roots` (store paths or paths inside them), as logical store paths.
/// `resolve` maps a logical path to where it is on this machine, or `None` when
/// it must be left out (a builtin may read only its input closure); a candidate
/// that does not exist there (a false match) is skipped.
pub fn closure<E: std::fmt::Display>(
    store_dir: &str,
    roots: &[&str],
    resolve: &dyn Fn(&str) -> Result<Option<PathBuf>, E>,
) -> Result<BTreeSet<String>, ClosureError> {
    let mut done = BTreeSet::new();
    let mut queue = VecDeque::new();
    for r in roots {
        queue.push_back(store_path_of(store_dir, r)?);
    }
    while let Some(p) = queue.pop_front() {
        if done.contains(&p) {
            continue;
        }
        let physical = resolve(&p).map_err(|e| ClosureError::Resolve {
            path: p.clone(),
            why: e.to_string(),
        })?;
        let Some(physical) = physical else { continue };
        if fs::symlink_metadata(&physical).is_err() {
            continue;
        }
        let mut found = BTreeSet::new();
        scan_tree(store_dir, &physical, &mut found)?;
        done.insert(p);
        queue.extend(found.into_iter().filter(|f| !done.contains(f)));
    }
    Ok(done)
}

fn scan_tree(
    store_dir: &str,
    path: &Path,
    found: &mut BTreeSet<String>,
) -> Result<(), ClosureError> {
    let err = |source| ClosureError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::symlink_metadata(path).map_err(err)?;
    if meta.file_type().is_symlink() {
        let t = fs::read_link(path).map_err(err)?;
        scan(store_dir, t.to_string_lossy().as_bytes(), found);
    } else if meta.is_file() {
        scan(store_dir, &fs::read(path).map_err(err)?, found);
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map_err(err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        entries.sort();
        for e in entries {
            scan_tree(store_dir, &e, found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const A: &str = "/s/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-app";
    const B: &str = "/s/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-libc-1.0";
    const C: &str = "/s/store/cccccccccccccccccccccccccccccccc-data";

    #[test]
    fn scan_finds_paths_and_stops_at_the_name() {
        let mut f = BTreeSet::new();
        let text = format!("\0{B}/lib/libc.so\0junk /s/store/short-x {A}\0/s/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
        scan("/s/store", text.as_bytes(), &mut f);
        assert_eq!(f.into_iter().collect::<Vec<_>>(), [A, B]);
    }

    #[test]
    fn closure_follows_files_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let resolve = move |p: &str| Ok::<_, String>(Some(base.join(p.trim_start_matches('/'))));
        let real = |p: &str| dir.path().join(p.trim_start_matches('/'));
        fs::create_dir_all(real(A).join("bin")).unwrap();
        fs::create_dir_all(real(B).join("lib")).unwrap();
        fs::create_dir_all(real(C)).unwrap();
        fs::write(real(A).join("bin/app"), format!("ELF..{B}/lib/ld.so..")).unwrap();
        symlink(format!("{C}/x"), real(B).join("lib/data")).unwrap();
        fs::write(real(C).join("x"), "no references").unwrap();
        let c = closure("/s/store", &[&format!("{A}/bin/app")], &resolve).unwrap();
        assert_eq!(c.into_iter().collect::<Vec<_>>(), [A, B, C]);
        assert!(closure("/s/store", &["/elsewhere/x"], &resolve).is_err());
    }
}
