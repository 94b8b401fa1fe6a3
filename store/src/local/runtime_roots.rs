//! Runtime GC roots: store paths that live processes use — their executable,
//! working and root directories, open files, mapped libraries and environment —
//! found in `/proc`, as Nix's collector does. A path in use is kept even when
//! no link names it, so GC never deletes a running program's files.
//!
//! Paths are matched by their physical location, so for a store under another
//! root (`--root`) only processes using that store's files count.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where in `/proc` a store path was seen, and the path's base name (`hash-name`).
pub(crate) type RuntimeUse = (PathBuf, String);

/// Scans every process this user may inspect; unreadable ones are skipped
/// (another user's, or gone in between).
pub(crate) fn scan(physical_store: &Path) -> BTreeSet<RuntimeUse> {
    let store = fs::canonicalize(physical_store).unwrap_or_else(|_| physical_store.to_path_buf());
    let mut prefix = store.as_os_str().as_bytes().to_vec();
    prefix.push(b'/');
    let finder = memchr::memmem::Finder::new(&prefix);
    let mut found = BTreeSet::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        if !name.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let dir = p.path();
        let mut look = |source: PathBuf, bytes: &[u8]| {
            for base in store_names(&finder, prefix.len(), bytes) {
                found.insert((source.clone(), base));
            }
        };
        for l in ["exe", "cwd", "root"] {
            let source = dir.join(l);
            if let Ok(t) = fs::read_link(&source) {
                look(source, t.as_os_str().as_bytes());
            }
        }
        if let Ok(fds) = fs::read_dir(dir.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(t) = fs::read_link(fd.path()) {
                    look(fd.path(), t.as_os_str().as_bytes());
                }
            }
        }
        for f in ["maps", "environ"] {
            let source = dir.join(f);
            if let Ok(bytes) = fs::read(&source) {
                look(source, &bytes);
            }
        }
    }
    found
}

/// The `hash-name` components that follow each occurrence of the store prefix.
fn store_names(finder: &memchr::memmem::Finder<'_>, skip: usize, bytes: &[u8]) -> Vec<String> {
    let name_char = |b: &u8| b.is_ascii_alphanumeric() || b"+-._?=".contains(b);
    finder
        .find_iter(bytes)
        .filter_map(|at| {
            let rest = &bytes[at + skip..];
            let end = rest
                .iter()
                .position(|b| !name_char(b))
                .unwrap_or(rest.len());
            let base = std::str::from_utf8(&rest[..end]).ok()?;
            crate::format::store_path::StorePath::from_base_name(base)
                .ok()
                .map(|_| base.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_at_the_first_character_a_store_name_cannot_hold() {
        let prefix = b"/s/store/";
        let finder = memchr::memmem::Finder::new(prefix);
        let h = "0123456789abcdfghijklmnpqrsvwxyz";
        let text = format!(
            "7f00-7f01 r-xp 0 08:01 12 /s/store/{h}-libc-2.36/lib/libc.so\0PATH=/s/store/{h}-hello/bin:/s/store/short\n/s/store/{h}"
        );
        assert_eq!(
            store_names(&finder, prefix.len(), text.as_bytes()),
            vec![format!("{h}-libc-2.36"), format!("{h}-hello")]
        );
    }
}
