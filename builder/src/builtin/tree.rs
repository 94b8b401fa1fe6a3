//! `builtin:b8g-tree`: a store path laid out from a JSON description (see
//! `recipes/pkgs/build-support/tree.nix` for the format).

use super::{io, BuiltinBuilder, BuiltinContext, BuiltinError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Entry {
    File {
        text: String,
        #[serde(default)]
        executable: bool,
    },
    Symlink {
        target: String,
    },
    Directory {},
    Union {
        sources: Vec<String>,
    },
}

/// The `b8g-tree` builtin builder.
pub struct TreeBuilder;

impl BuiltinBuilder for TreeBuilder {
    fn name(&self) -> &'static str {
        "b8g-tree"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        build_tree(cx.attr("tree", "b8g-tree")?, cx.out()?, cx.resolve)
    }
}

/// Lays out `spec` (the JSON tree description) at `out`, which must not exist.
pub fn build_tree(
    spec: &str,
    out: &Path,
    resolve: &dyn Fn(&str) -> Result<PathBuf, BuiltinError>,
) -> Result<(), BuiltinError> {
    let entries: BTreeMap<String, Entry> =
        serde_json::from_str(spec).map_err(|e| BuiltinError::BadSpec(e.to_string()))?;
    if let Some(whole) = entries.get("") {
        if entries.len() != 1 {
            return Err(BuiltinError::BadSpec(
                "the \"\" entry (the output itself) must be the only one".into(),
            ));
        }
        return write_entry(out, whole, resolve);
    }
    fs::create_dir(out).map_err(io("create directory", out))?;
    // BTreeMap order puts parents before their children ("a" < "a/b").
    for (rel, entry) in &entries {
        let dest = out.join(checked_relative(rel)?);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io("create directory", parent))?;
        }
        write_entry(&dest, entry, resolve)?;
    }
    Ok(())
}

fn checked_relative(rel: &str) -> Result<&Path, BuiltinError> {
    let p = Path::new(rel);
    if p.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(p)
    } else {
        Err(BuiltinError::BadSpec(format!(
            "entry {rel:?} is not a plain relative path"
        )))
    }
}

fn write_entry(
    dest: &Path,
    entry: &Entry,
    resolve: &dyn Fn(&str) -> Result<PathBuf, BuiltinError>,
) -> Result<(), BuiltinError> {
    match entry {
        Entry::File { text, executable } => {
            fs::write(dest, text).map_err(io("write", dest))?;
            let mode = if *executable { 0o555 } else { 0o444 };
            fs::set_permissions(dest, fs::Permissions::from_mode(mode))
                .map_err(io("chmod", dest))?;
        }
        Entry::Symlink { target } => symlink(target, dest).map_err(io("create symlink", dest))?,
        Entry::Directory {} => fs::create_dir(dest).map_err(io("create directory", dest))?,
        Entry::Union { sources } => {
            let mut owners = BTreeMap::new();
            fs::create_dir(dest).map_err(io("create directory", dest))?;
            for src in sources {
                let physical = resolve(src)?;
                merge_into(dest, Path::new(src), &physical, src, &mut owners)?;
            }
        }
    }
    Ok(())
}

/// Adds `logical`'s tree (whose bytes are at `physical`) to the union at `dest`:
/// directories are created, everything else becomes a symlink to its logical path.
fn merge_into(
    dest: &Path,
    logical: &Path,
    physical: &Path,
    source: &str,
    owners: &mut BTreeMap<PathBuf, String>,
) -> Result<(), BuiltinError> {
    let meta = fs::metadata(physical).map_err(io("stat", physical))?;
    if !meta.is_dir() {
        return Err(BuiltinError::BadSpec(format!(
            "union source {} is not a directory",
            logical.display()
        )));
    }
    let mut names: Vec<_> = fs::read_dir(physical)
        .map_err(io("read directory", physical))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io("read directory", physical))?;
    names.sort();
    for name in names {
        let d = dest.join(&name);
        let (l, p) = (logical.join(&name), physical.join(&name));
        let is_dir = fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false);
        if is_dir {
            if !d.exists() {
                fs::create_dir(&d).map_err(io("create directory", &d))?;
            }
            merge_into(&d, &l, &p, source, owners)?;
        } else if let Some(first) = owners.get(&d) {
            return Err(BuiltinError::Conflict {
                path: d.display().to_string(),
                first: first.clone(),
                second: source.to_string(),
            });
        } else {
            symlink(&l, &d).map_err(io("create symlink", &d))?;
            owners.insert(d, source.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(p: &str) -> Result<PathBuf, BuiltinError> {
        Ok(PathBuf::from(p))
    }

    #[test]
    fn lays_out_files_links_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let spec = r##"{"bin/hello":{"type":"file","text":"#!/bin/sh\n","executable":true},
            "etc":{"type":"directory"},"etc/motd":{"type":"file","text":"hi"},
            "link":{"type":"symlink","target":"/b8g/store/x"}}"##;
        build_tree(spec, &out, &identity).unwrap();
        assert_eq!(fs::read_to_string(out.join("etc/motd")).unwrap(), "hi");
        let mode = fs::metadata(out.join("bin/hello"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o555);
        assert_eq!(
            fs::read_link(out.join("link")).unwrap(),
            Path::new("/b8g/store/x")
        );
    }

    #[test]
    fn single_file_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        build_tree(r#"{"":{"type":"file","text":"x"}}"#, &out, &identity).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "x");
    }

    #[test]
    fn union_merges_and_reports_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(a.join("bin")).unwrap();
        fs::create_dir_all(b.join("bin")).unwrap();
        fs::write(a.join("bin/ls"), "").unwrap();
        fs::write(b.join("bin/cat"), "").unwrap();
        let spec = format!(
            r#"{{"":{{"type":"union","sources":["{}","{}"]}}}}"#,
            a.display(),
            b.display()
        );
        let out = dir.path().join("out");
        build_tree(&spec, &out, &identity).unwrap();
        assert_eq!(fs::read_link(out.join("bin/ls")).unwrap(), a.join("bin/ls"));
        assert_eq!(
            fs::read_link(out.join("bin/cat")).unwrap(),
            b.join("bin/cat")
        );
        fs::write(b.join("bin/ls"), "").unwrap();
        let err = build_tree(&spec, &dir.path().join("out2"), &identity).unwrap_err();
        assert!(matches!(err, BuiltinError::Conflict { .. }), "{err}");
    }

    #[test]
    fn rejects_escaping_paths_and_unknown_types() {
        let dir = tempfile::tempdir().unwrap();
        let e = build_tree(
            r#"{"../x":{"type":"directory"}}"#,
            &dir.path().join("o1"),
            &identity,
        )
        .unwrap_err();
        assert!(matches!(e, BuiltinError::BadSpec(_)));
        let e = build_tree(
            r#"{"x":{"type":"socket"}}"#,
            &dir.path().join("o2"),
            &identity,
        )
        .unwrap_err();
        assert!(matches!(e, BuiltinError::BadSpec(_)));
    }
}
