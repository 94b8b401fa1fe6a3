//! `--check`: what differs between a valid output and its rebuild.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How many differences a report lists before it stops.
const MAX_REPORTED: usize = 50;

/// One file that differs between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Relative to the trees' roots (empty for the root itself).
    pub path: PathBuf,
    /// What differs.
    pub what: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.path
        };
        write!(f, "{}: {}", shown.display(), self.what)
    }
}

/// The list as shown in an error message: one line per difference.
pub(crate) fn describe(differences: &[Difference]) -> String {
    let mut s = String::new();
    for d in differences {
        s.push_str("\n  ");
        s.push_str(&d.to_string());
    }
    if differences.len() >= MAX_REPORTED {
        s.push_str("\n  (more differences not shown)");
    }
    s
}

#[derive(PartialEq, Eq)]
enum Kind {
    File { executable: bool },
    Dir,
    Symlink(PathBuf),
    Other,
    Missing,
}

fn kind(p: &Path) -> Kind {
    match fs::symlink_metadata(p) {
        Err(_) => Kind::Missing,
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(m) if m.is_file() => Kind::File {
            executable: m.permissions().mode() & 0o100 != 0,
        },
        Ok(m) if m.file_type().is_symlink() => Kind::Symlink(fs::read_link(p).unwrap_or_default()),
        Ok(_) => Kind::Other,
    }
}

fn name(k: &Kind) -> &'static str {
    match k {
        Kind::File { .. } => "a file",
        Kind::Dir => "a directory",
        Kind::Symlink(_) => "a symlink",
        Kind::Other => "a special file",
        Kind::Missing => "missing",
    }
}

/// Compares two trees as NAR serialisation sees them: entry names, types,
/// the executable bit, file contents and symlink targets (`a` is the valid
/// output, `b` the rebuild). Lists at most a few dozen differences.
pub fn diff_trees(a: &Path, b: &Path) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(a, b, Path::new(""), &mut out);
    out
}

fn walk(a: &Path, b: &Path, rel: &Path, out: &mut Vec<Difference>) {
    if out.len() >= MAX_REPORTED {
        return;
    }
    let (ka, kb) = (kind(a), kind(b));
    let mut push = |what: String| {
        out.push(Difference {
            path: rel.to_owned(),
            what,
        })
    };
    match (&ka, &kb) {
        (Kind::Dir, Kind::Dir) => {
            let names = |p: &Path| -> std::collections::BTreeSet<std::ffi::OsString> {
                fs::read_dir(p)
                    .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
                    .unwrap_or_default()
            };
            let mut all = names(a);
            all.extend(names(b));
            for n in all {
                walk(&a.join(&n), &b.join(&n), &rel.join(&n), out);
            }
        }
        (Kind::File { executable: xa }, Kind::File { executable: xb }) => {
            if xa != xb {
                push(format!(
                    "executable bit differs ({} before, {} in the rebuild)",
                    if *xa { "set" } else { "unset" },
                    if *xb { "set" } else { "unset" }
                ));
            }
            match (fs::read(a), fs::read(b)) {
                (Ok(da), Ok(db)) if da != db => {
                    let at = da.iter().zip(&db).position(|(x, y)| x != y);
                    push(match at {
                        Some(i) => format!(
                            "contents differ from byte {i} ({} vs {} bytes)",
                            da.len(),
                            db.len()
                        ),
                        None => format!("sizes differ ({} vs {} bytes)", da.len(), db.len()),
                    });
                }
                (Err(e), _) | (_, Err(e)) => push(format!("cannot read: {e}")),
                _ => {}
            }
        }
        (Kind::Symlink(ta), Kind::Symlink(tb)) if ta != tb => push(format!(
            "symlink target differs ({} vs {})",
            ta.display(),
            tb.display()
        )),
        _ if ka == kb => {}
        (Kind::Missing, _) => push(format!("only in the rebuild ({})", name(&kb))),
        (_, Kind::Missing) => push(format!("missing from the rebuild (was {})", name(&ka))),
        _ => push(format!(
            "was {}, is {} in the rebuild",
            name(&ka),
            name(&kb)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_kind_of_difference() {
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            fs::create_dir_all(d.join("sub")).expect("mkdir");
            fs::write(d.join("same"), "x").expect("write");
        }
        fs::write(a.join("sub/f"), "one").expect("write");
        fs::write(b.join("sub/f"), "two").expect("write");
        fs::write(a.join("gone"), "").expect("write");
        std::os::unix::fs::symlink("t1", a.join("l")).expect("symlink");
        std::os::unix::fs::symlink("t2", b.join("l")).expect("symlink");
        let d = diff_trees(&a, &b);
        let text: Vec<String> = d.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            text,
            [
                "gone: missing from the rebuild (was a file)",
                "l: symlink target differs (t1 vs t2)",
                "sub/f: contents differ from byte 0 (3 vs 3 bytes)",
            ]
        );
        assert!(diff_trees(&a, &a).is_empty());
    }
}
