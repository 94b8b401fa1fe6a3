//! `b8g system diff A B`: which components two generations' closures add,
//! remove or change, by name without hash, with versions and sizes.

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
    use super::split_name;

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
