//! `builtin:b8g-tree`: a store path laid out from a JSON description (see
//! `recipes/pkgs/build-support/tree.nix` for the format).

use super::fsroot::{checked_relative, OutputTree, StoreInputs};
use super::{BuiltinBuilder, BuiltinContext, BuiltinError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One entry of a tree description.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Entry {
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
        /// nixpkgs' `meta.priority` of each source (default 5): where two
        /// sources hold the same file, the lower number wins; equal ones
        /// conflict.
        #[serde(default)]
        priorities: Vec<i64>,
    },
}

/// nixpkgs' default `meta.priority`.
const DEFAULT_PRIORITY: i64 = 5;

/// The `b8g-tree` builtin builder.
pub struct TreeBuilder;

impl BuiltinBuilder for TreeBuilder {
    fn name(&self) -> &'static str {
        "b8g-tree"
    }

    fn build(&self, cx: &BuiltinContext<'_>) -> Result<(), BuiltinError> {
        build_tree(cx.attr("tree", "b8g-tree")?, &cx.out()?, cx.inputs)
    }
}

/// Parses a tree description: entries by relative path (`""` alone is the
/// output itself), each a plain relative path.
pub fn parse_tree(spec: &str) -> Result<BTreeMap<String, Entry>, BuiltinError> {
    let entries: BTreeMap<String, Entry> =
        serde_json::from_str(spec).map_err(|e| BuiltinError::BadSpec(e.to_string()))?;
    if entries.contains_key("") && entries.len() != 1 {
        return Err(BuiltinError::BadSpec(
            "the \"\" entry (the output itself) must be the only one".into(),
        ));
    }
    for rel in entries.keys() {
        if !rel.is_empty() && (checked_relative(rel)? != rel.as_str()) {
            return Err(BuiltinError::BadSpec(format!(
                "entry {rel:?} is not a plain relative path"
            )));
        }
    }
    Ok(entries)
}

/// Lays out `spec` (the JSON tree description) as `out`, which must not exist.
/// Every write goes through `out` (no symlink is followed, not even one an
/// earlier entry made); unions read only `inputs`.
pub fn build_tree(spec: &str, out: &OutputTree, inputs: &StoreInputs) -> Result<(), BuiltinError> {
    let entries = parse_tree(spec)?;
    if let Some(whole) = entries.get("") {
        return write_entry(out, "", whole, inputs);
    }
    out.create_dir("", 0o755)?;
    // BTreeMap order puts parents before their children ("a" < "a/b").
    for (rel, entry) in &entries {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            out.create_dir_all(parent)?;
        }
        write_entry(out, rel, entry, inputs)?;
    }
    Ok(())
}

fn write_entry(
    out: &OutputTree,
    rel: &str,
    entry: &Entry,
    inputs: &StoreInputs,
) -> Result<(), BuiltinError> {
    match entry {
        Entry::File { text, executable } => {
            let mode = if *executable { 0o555 } else { 0o444 };
            out.write_file(rel, text.as_bytes(), mode)?;
        }
        Entry::Symlink { target } => out.symlink(rel, target)?,
        Entry::Directory {} => out.create_dir(rel, 0o755)?,
        Entry::Union {
            sources,
            priorities,
        } => {
            if !priorities.is_empty() && priorities.len() != sources.len() {
                return Err(BuiltinError::BadSpec(format!(
                    "a union of {} sources has {} priorities",
                    sources.len(),
                    priorities.len()
                )));
            }
            let mut owners = BTreeMap::new();
            out.create_dir(rel, 0o755)?;
            // A package listed twice (a module's default and the user's list) is
            // one source, as in nixpkgs' buildEnv, not a conflict with itself.
            let mut seen = std::collections::BTreeSet::new();
            let mut ordered: Vec<(i64, &String)> = sources
                .iter()
                .enumerate()
                .filter(|(_, s)| seen.insert(s.as_str()))
                .map(|(i, s)| (priorities.get(i).copied().unwrap_or(DEFAULT_PRIORITY), s))
                .collect();
            // Stable: equal priorities keep the given order.
            ordered.sort_by_key(|(p, _)| *p);
            for (priority, src) in ordered {
                let top = inputs.open(src)?;
                if !top.is_dir() {
                    return Err(BuiltinError::BadSpec(format!(
                        "union source {src} is not a directory"
                    )));
                }
                let source = Source {
                    path: src,
                    priority,
                };
                merge_into(out, rel, src, &source, inputs, &mut owners)?;
            }
        }
    }
    Ok(())
}

/// A source of a union, with its priority.
struct Source<'a> {
    path: &'a str,
    priority: i64,
}

/// Which source a union's leaf came from, and the file it leads to.
struct Owner {
    source: String,
    priority: i64,
    resolved: Option<String>,
}

/// Adds the tree at `logical` (a directory of the input closure) to the union
/// at `dest`: directories are created, everything else becomes a symlink to
/// its logical path. Children are opened through `inputs`, so a symlinked
/// directory is descended into only when it leads inside the closure.
fn merge_into(
    out: &OutputTree,
    dest: &str,
    logical: &str,
    source: &Source<'_>,
    inputs: &StoreInputs,
    owners: &mut BTreeMap<String, Owner>,
) -> Result<(), BuiltinError> {
    let dir = inputs.open(logical)?;
    for name in dir.read_dir_names()? {
        let name = name.to_str().ok_or_else(|| {
            BuiltinError::BadSpec(format!("{logical} holds a name that is not UTF-8"))
        })?;
        let d = if dest.is_empty() {
            name.to_string()
        } else {
            format!("{dest}/{name}")
        };
        let l = format!("{}/{name}", logical.trim_end_matches('/'));
        // Anything that does not open as a directory inside the closure (a
        // file, a dangling link, a link out of the closure) is a leaf.
        let opened = inputs.open(&l).ok();
        if opened.as_ref().is_some_and(|f| f.is_dir()) {
            if !out.is_dir(&d)? {
                out.create_dir(&d, 0o755)?;
            }
            merge_into(out, &d, &l, source, inputs, owners)?;
            continue;
        }
        // Two links that lead to the same file (two profiles sharing a
        // package) are one file, as in nixpkgs' buildEnv.
        let resolved = opened.map(|f| f.logical().to_owned());
        match owners.get(&d) {
            Some(o) if o.resolved.is_some() && o.resolved == resolved => {}
            // Sources come in priority order: an earlier, lower number wins.
            Some(o) if o.priority < source.priority => {}
            Some(o) => {
                return Err(BuiltinError::Conflict {
                    path: out.path().join(&d).display().to_string(),
                    first: o.source.clone(),
                    second: source.path.to_string(),
                })
            }
            None => {
                out.symlink(&d, &l)?;
                let owner = Owner {
                    source: source.path.to_string(),
                    priority: source.priority,
                    resolved,
                };
                owners.insert(d, owner);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b";

    /// A chroot store under `dir` whose closure is `A` and `B`.
    fn store(dir: &Path) -> StoreInputs {
        let s = dir.join("b8g/store");
        fs::create_dir_all(&s).unwrap();
        StoreInputs::new(&s, "/b8g/store", [A.to_string(), B.to_string()]).unwrap()
    }

    fn out(dir: &Path, name: &str) -> OutputTree {
        OutputTree::new(&dir.join(name)).unwrap()
    }

    #[test]
    fn lays_out_files_links_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let spec = r##"{"bin/hello":{"type":"file","text":"#!/bin/sh\n","executable":true},
            "etc":{"type":"directory"},"etc/motd":{"type":"file","text":"hi"},
            "link":{"type":"symlink","target":"/b8g/store/x"}}"##;
        build_tree(spec, &out(dir.path(), "out"), &store(dir.path())).unwrap();
        let o = dir.path().join("out");
        assert_eq!(fs::read_to_string(o.join("etc/motd")).unwrap(), "hi");
        let mode = fs::metadata(o.join("bin/hello"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o555);
        assert_eq!(
            fs::read_link(o.join("link")).unwrap(),
            Path::new("/b8g/store/x")
        );
    }

    #[test]
    fn single_file_output() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = store(dir.path());
        build_tree(
            r#"{"":{"type":"file","text":"x"}}"#,
            &out(dir.path(), "out"),
            &inputs,
        )
        .unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("out")).unwrap(), "x");
    }

    #[test]
    fn union_merges_and_reports_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = store(dir.path());
        let s = dir.path().join("b8g/store");
        let (a, b) = (s.join(A), s.join(B));
        fs::create_dir_all(a.join("bin")).unwrap();
        fs::create_dir_all(b.join("bin")).unwrap();
        fs::write(a.join("bin/ls"), "").unwrap();
        fs::write(b.join("bin/cat"), "").unwrap();
        let spec = format!(
            r#"{{"":{{"type":"union","sources":["/b8g/store/{A}","/b8g/store/{B}","/b8g/store/{A}"]}}}}"#
        );
        build_tree(&spec, &out(dir.path(), "out"), &inputs).unwrap();
        let o = dir.path().join("out");
        assert_eq!(
            fs::read_link(o.join("bin/ls")).unwrap(),
            Path::new(&format!("/b8g/store/{A}/bin/ls"))
        );
        assert_eq!(
            fs::read_link(o.join("bin/cat")).unwrap(),
            Path::new(&format!("/b8g/store/{B}/bin/cat"))
        );
        // B links to A's file: the same file, so no conflict (two profiles
        // that share a package).
        std::os::unix::fs::symlink(format!("/b8g/store/{A}/bin/ls"), b.join("bin/ls")).unwrap();
        build_tree(&spec, &out(dir.path(), "out-shared"), &inputs).unwrap();
        fs::remove_file(b.join("bin/ls")).unwrap();
        fs::write(b.join("bin/ls"), "").unwrap();
        let err = build_tree(&spec, &out(dir.path(), "out2"), &inputs).unwrap_err();
        assert!(matches!(err, BuiltinError::Conflict { .. }), "{err}");
        // With priorities, the lower number wins whatever the order.
        let spec = format!(
            r#"{{"":{{"type":"union","sources":["/b8g/store/{A}","/b8g/store/{B}"],"priorities":[10,5]}}}}"#
        );
        build_tree(&spec, &out(dir.path(), "out3"), &inputs).unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("out3/bin/ls")).unwrap(),
            Path::new(&format!("/b8g/store/{B}/bin/ls"))
        );
    }

    #[test]
    fn rejects_escaping_paths_and_unknown_types() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = store(dir.path());
        for spec in [
            r#"{"../x":{"type":"directory"}}"#,
            r#"{"a/../../x":{"type":"directory"}}"#,
            r#"{"/etc/x":{"type":"directory"}}"#,
            r#"{"./x":{"type":"directory"}}"#,
            r#"{"x":{"type":"socket"}}"#,
        ] {
            let e = build_tree(spec, &out(dir.path(), "o"), &inputs).unwrap_err();
            assert!(matches!(e, BuiltinError::BadSpec(_)), "{spec}: {e}");
            assert!(!dir.path().join("o").exists(), "{spec} made an output");
        }
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn a_symlink_made_by_an_earlier_entry_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = store(dir.path());
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let spec = format!(
            r#"{{"a":{{"type":"symlink","target":"{}"}},"a/x":{{"type":"file","text":"pwned"}},
                "a/sub/y":{{"type":"file","text":"pwned"}}}}"#,
            outside.display()
        );
        let e = build_tree(&spec, &out(dir.path(), "out"), &inputs).unwrap_err();
        assert!(matches!(e, BuiltinError::NotBeneath { .. }), "{e}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        fn entry() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,8}".prop_map(|t| format!(
                    r#"{{"type":"file","text":{}}}"#,
                    serde_json::to_string(&t).unwrap()
                )),
                "[a./]{0,6}".prop_map(|t| format!(r#"{{"type":"symlink","target":"{t}"}}"#)),
                Just(r#"{"type":"directory"}"#.to_string()),
                Just(r#"{"type":"union","sources":["/etc"]}"#.to_string()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

            /// Arbitrary bytes never panic the parser.
            #[test]
            fn parse_tree_never_panics(s in ".{0,200}") {
                let _ = parse_tree(&s);
            }

            /// Whatever the description (names with `..`, `.`, `/`, symlinks
            /// then entries beneath them), nothing appears outside the output.
            #[test]
            fn build_tree_stays_beneath_the_output(
                entries in proptest::collection::btree_map("[a./]{0,7}", entry(), 0..6)
            ) {
                let dir = tempfile::tempdir().unwrap();
                let base = dir.path().join("base");
                std::fs::create_dir_all(base.join("b8g/store")).unwrap();
                std::fs::create_dir_all(base.join("staging")).unwrap();
                let inputs = StoreInputs::new(&base.join("b8g/store"), "/b8g/store", []).unwrap();
                let body: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                let spec = format!("{{{}}}", body.join(","));
                let out = OutputTree::new(&base.join("staging/out")).unwrap();
                let _ = build_tree(&spec, &out, &inputs);
                let mut names: Vec<_> = std::fs::read_dir(&base)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                names.sort();
                prop_assert_eq!(names, vec!["b8g", "staging"]);
                let staged: Vec<_> = std::fs::read_dir(base.join("staging"))
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                prop_assert!(staged.len() <= 1);
                prop_assert_eq!(std::fs::read_dir(base.join("b8g/store")).unwrap().count(), 0);
            }
        }
    }
}
