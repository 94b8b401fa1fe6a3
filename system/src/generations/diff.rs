//! `b8g system diff A B`: which components two generations' closures add,
//! remove or change, by name without hash, with versions and sizes, in the
//! words of `nix store diff-closures` ([`Change::line`]).

use std::collections::BTreeMap;

use b8g_store::format::store_path::StorePath;
use b8g_store::local::{Error as StoreError, LocalStore};

/// Splits a store path name into (name, version) the way Nix's `parseDrvName`
/// does: the version starts at the first `-` followed by a non-letter.
pub fn split_name(name: &str) -> (&str, &str) {
    let b = name.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'-' && b.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()) {
            return (&name[..i], &name[i + 1..]);
        }
    }
    (name, "")
}

/// One component (all store paths sharing a name) on one side.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Side {
    pub versions: Vec<String>,
    /// NAR bytes of its paths.
    pub size: u64,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub name: String,
    /// `None`: not in that closure.
    pub before: Option<Side>,
    pub after: Option<Side>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClosureDiff {
    pub added: Vec<Change>,
    pub removed: Vec<Change>,
    pub changed: Vec<Change>,
    pub size_before: u64,
    pub size_after: u64,
}

/// Nix's `diff-closures` shows a size change only from this many bytes on.
const SHOWN_DELTA: u64 = 8 * 1024;

/// Versions as `diff-closures` shows them: `∅` for none, `ε` for the empty version.
fn show_versions(versions: &[&str]) -> String {
    if versions.is_empty() {
        return "∅".to_string();
    }
    let mut v: Vec<&str> = versions
        .iter()
        .map(|v| if v.is_empty() { "ε" } else { v })
        .collect();
    v.sort_unstable();
    v.join(", ")
}

impl Change {
    /// The change as `nix store diff-closures` prints it: `hello: 1.0 → 2.0`,
    /// `unit-extra.service: ∅ → ε`, `busybox: +12.5 KiB`. Versions appear when
    /// they differ; the size change when it reaches 8 KiB, as in Nix, and
    /// always when the versions are the same (Nix then prints no line at all;
    /// b8g lists every changed component, so it says by how much it changed).
    pub fn line(&self) -> String {
        // A component whose paths have no version has the empty one (Nix's ε).
        let versions = |s: &Option<Side>| -> Vec<String> {
            match s {
                None => Vec::new(),
                Some(s) if s.versions.is_empty() => vec![String::new()],
                Some(s) => s.versions.clone(),
            }
        };
        let (before, after) = (versions(&self.before), versions(&self.after));
        let removed: Vec<&str> = before
            .iter()
            .filter(|v| !after.contains(v))
            .map(String::as_str)
            .collect();
        let added: Vec<&str> = after
            .iter()
            .filter(|v| !before.contains(v))
            .map(String::as_str)
            .collect();
        let size = |s: &Option<Side>| s.as_ref().map_or(0, |s| s.size);
        let (b, a) = (size(&self.before), size(&self.after));
        let mut items = Vec::new();
        if !removed.is_empty() || !added.is_empty() {
            items.push(format!(
                "{} → {}",
                show_versions(&removed),
                show_versions(&added)
            ));
        }
        if items.is_empty() || a.abs_diff(b) >= SHOWN_DELTA {
            let delta = (a as f64 - b as f64) / 1024.0;
            items.push(format!("{delta:+.1} KiB"));
        }
        format!("{}: {}", self.name, items.join(", "))
    }
}

impl ClosureDiff {
    /// Every change, sorted by component name (as `diff-closures` orders them).
    pub fn changes(&self) -> Vec<&Change> {
        let mut all: Vec<&Change> = self
            .added
            .iter()
            .chain(&self.removed)
            .chain(&self.changed)
            .collect();
        all.sort_by(|x, y| x.name.cmp(&y.name));
        all
    }
}

type Components = BTreeMap<String, (Vec<StorePath>, Side)>;

fn components(store: &LocalStore, top: &StorePath) -> Result<(Components, u64), StoreError> {
    let mut out: Components = BTreeMap::new();
    let mut total = 0;
    for p in store.closure([top])? {
        let size = store.path_info(&p)?.map(|i| i.nar_size).unwrap_or(0);
        total += size;
        let (name, version) = split_name(p.name());
        let e = out.entry(name.to_string()).or_default();
        e.0.push(p.clone());
        if !version.is_empty() && !e.1.versions.iter().any(|v| v == version) {
            e.1.versions.push(version.to_string());
        }
        e.1.size += size;
    }
    Ok((out, total))
}

/// Compares the closures of `a` and `b`.
pub fn diff(store: &LocalStore, a: &StorePath, b: &StorePath) -> Result<ClosureDiff, StoreError> {
    let (ca, size_before) = components(store, a)?;
    let (cb, size_after) = components(store, b)?;
    let mut d = ClosureDiff {
        size_before,
        size_after,
        ..Default::default()
    };
    for (name, (paths, side)) in &ca {
        match cb.get(name) {
            None => d.removed.push(Change {
                name: name.clone(),
                before: Some(side.clone()),
                after: None,
            }),
            Some((bp, bside)) if bp != paths => d.changed.push(Change {
                name: name.clone(),
                before: Some(side.clone()),
                after: Some(bside.clone()),
            }),
            Some(_) => {}
        }
    }
    for (name, (_, side)) in &cb {
        if !ca.contains_key(name) {
            d.added.push(Change {
                name: name.clone(),
                before: None,
                after: Some(side.clone()),
            });
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::{split_name, Change, Side};

    fn change(name: &str, before: Option<(&[&str], u64)>, after: Option<(&[&str], u64)>) -> Change {
        let side = |s: Option<(&[&str], u64)>| {
            s.map(|(v, size)| Side {
                versions: v.iter().map(|v| v.to_string()).collect(),
                size,
            })
        };
        Change {
            name: name.to_string(),
            before: side(before),
            after: side(after),
        }
    }

    /// Regression: a changed component without versions printed `~ b8g-units - -> - (…)`.
    #[test]
    fn changes_read_as_nix_store_diff_closures_prints_them() {
        let kib = |k: f64| (k * 1024.0) as u64;
        let lines: Vec<String> = [
            change("b8g-units", Some((&[], kib(9.3))), Some((&[], kib(9.8)))),
            change("hello", Some((&["1.0"], 10)), Some((&["2.0"], 20))),
            change(
                "linux",
                Some((&["6.1"], kib(100.0))),
                Some((&["6.2"], kib(130.3))),
            ),
            change("unit-extra.service", None, Some((&[], 9))),
            change("nginx", Some((&["1.22"], kib(900.0))), None),
            change(
                "busybox",
                Some((&["1.36"], kib(900.0))),
                Some((&[], kib(900.0))),
            ),
        ]
        .iter()
        .map(Change::line)
        .collect();
        assert_eq!(
            lines,
            [
                "b8g-units: +0.5 KiB",
                "hello: 1.0 → 2.0",
                "linux: 6.1 → 6.2, +30.3 KiB",
                "unit-extra.service: ∅ → ε",
                "nginx: 1.22 → ∅, -900.0 KiB",
                "busybox: 1.36 → ε",
            ]
        );
    }

    #[test]
    fn names_split_like_parse_drv_name() {
        assert_eq!(split_name("busybox-1.36.1"), ("busybox", "1.36.1"));
        assert_eq!(split_name("b8g-system-minimal"), ("b8g-system-minimal", ""));
        assert_eq!(
            split_name("linux-image-6.1.0-13"),
            ("linux-image", "6.1.0-13")
        );
        assert_eq!(split_name("unit-hello.service"), ("unit-hello.service", ""));
    }
}
