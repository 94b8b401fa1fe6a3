//! From root package names to a [`DebianLock`]: the `Pre-Depends` and
//! `Depends` closure of the candidates an index offers, grouped into
//! components.
//!
//! Choices, where Debian leaves them to apt:
//! - of alternatives (`a | b`), one already chosen wins, else the first that
//!   the index has (as a package or through a provider);
//! - a virtual package is satisfied by a provider already chosen, else by its
//!   only provider; with several, the user names one (an error says which);
//! - version constraints are not checked: every name has one candidate, and
//!   the archive's candidates satisfy each other;
//! - `libc6` is the seed's glibc (every relocated program's dynamic loader),
//!   so its own dependencies are not followed.

use super::lock::{Component, DebianLock, LockedPackage};
use std::collections::{BTreeMap, BTreeSet};

/// Packages only maintainer scripts use; they do not run here.
/// `base-files` too: /etc/os-release, /etc/skel and the like are the
/// system modules' to write.
pub const DEFAULT_IGNORED: &[&str] = &[
    "adduser",
    "base-files",
    "debconf",
    "debconf-2.0",
    "cdebconf",
    "dpkg",
    "init-system-helpers",
    "install-info",
    "lsb-base",
    "sysvinit-utils",
    "ucf",
];

/// The package whose dependencies are the seed's, not followed.
pub const SEED_LIBC: &str = "libc6";

/// One candidate, as an index gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub package: String,
    pub version: String,
    pub sha256: String,
    /// `Pre-Depends` then `Depends`: clauses of alternatives, bare names.
    pub depends: Vec<Vec<String>>,
}

/// Where candidates come from (the host's apt; a fake in tests).
pub trait DebianIndex {
    /// The candidates of those `names` that are real packages; virtual or
    /// unknown names are simply absent from the answer.
    fn candidates(&self, names: &[String]) -> Result<BTreeMap<String, Record>, ResolveError>;
    /// The real packages that provide `name`.
    fn providers(&self, name: &str) -> Result<Vec<String>, ResolveError>;
}

/// Why resolving failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "Debian package {package} (needed by {needed_by}) is not in apt's indices: \
         run `apt-get update`; if Debian renamed or dropped it, change the configuration \
         and the roots of recipes/debian/lock.json (`b8g bootstrap add-debian`)"
    )]
    Unknown { package: String, needed_by: String },
    #[error(
        "{package} (needed by {needed_by}) is virtual and several packages provide it: \
         {providers}; name the one you want with `b8g bootstrap add-debian`"
    )]
    Ambiguous {
        package: String,
        needed_by: String,
        providers: String,
    },
    #[error("apt: {0}")]
    Index(String),
}

/// Splits a `Depends` field into clauses of alternative bare names:
/// version constraints, architecture lists, build profiles and `:any`
/// qualifiers are dropped.
pub fn parse_depends(field: &str) -> Vec<Vec<String>> {
    field
        .split(',')
        .map(|clause| {
            clause
                .split('|')
                .filter_map(|alt| {
                    let name = alt
                        .trim()
                        .split(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == '<')
                        .next()
                        .unwrap_or("");
                    let name = name.split(':').next().unwrap_or("");
                    (!name.is_empty()).then(|| name.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Resolves `roots` (with `ignored` never followed) against `index`.
pub fn resolve(
    roots: &BTreeSet<String>,
    ignored: &BTreeSet<String>,
    index: &dyn DebianIndex,
) -> Result<DebianLock, ResolveError> {
    let mut r = Resolver {
        index,
        ignored,
        chosen: BTreeMap::new(),
        edges: BTreeMap::new(),
        wanted: roots
            .iter()
            .map(|r| (r.clone(), "the lock's roots".to_owned()))
            .collect(),
        deferred: Vec::new(),
        providers: BTreeMap::new(),
    };
    loop {
        if !r.wanted.is_empty() {
            r.round()?;
        } else if !r.deferred.is_empty() {
            r.decide_virtual()?;
        } else {
            break;
        }
    }
    Ok(assemble(roots, ignored, r.chosen, r.edges))
}

struct Resolver<'a> {
    index: &'a dyn DebianIndex,
    ignored: &'a BTreeSet<String>,
    chosen: BTreeMap<String, Record>,
    /// Resolved edges: package -> the packages it depends on.
    edges: BTreeMap<String, BTreeSet<String>>,
    /// (name, who needs it), to be chosen in the next round.
    wanted: Vec<(String, String)>,
    /// Clauses of only virtual names, (who, clause): decided once nothing
    /// else is left, so a provider chosen for another reason wins.
    deferred: Vec<(String, Vec<String>)>,
    providers: BTreeMap<String, Vec<String>>,
}

impl Resolver<'_> {
    fn known(&self, name: &str) -> bool {
        self.chosen.contains_key(name) || self.wanted.iter().any(|(w, _)| w == name)
    }

    fn depend(&mut self, from: &str, on: String) {
        if self.ignored.contains(&on) {
            return;
        }
        self.edges.get_mut(from).expect("chosen").insert(on.clone());
        if !self.known(&on) {
            self.wanted.push((on, from.to_owned()));
        }
    }

    fn providers_of(&mut self, name: &str) -> Result<Vec<String>, ResolveError> {
        if let Some(ps) = self.providers.get(name) {
            return Ok(ps.clone());
        }
        let ps = self.index.providers(name)?;
        self.providers.insert(name.to_owned(), ps.clone());
        Ok(ps)
    }

    /// Chooses the wanted names (one index query) and resolves their clauses.
    fn round(&mut self) -> Result<(), ResolveError> {
        let names: Vec<String> = self
            .wanted
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !self.chosen.contains_key(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = self.index.candidates(&names)?;
        let mut fresh = Vec::new();
        for (name, needed_by) in std::mem::take(&mut self.wanted) {
            if self.chosen.contains_key(&name) {
                continue;
            }
            let Some(record) = found.get(&name) else {
                return Err(ResolveError::Unknown {
                    package: name,
                    needed_by,
                });
            };
            self.chosen.insert(name.clone(), record.clone());
            self.edges.insert(name.clone(), BTreeSet::new());
            fresh.push(name);
        }
        let mut clauses = Vec::new();
        for name in fresh.iter().filter(|n| *n != SEED_LIBC) {
            for clause in &self.chosen[name].depends {
                if !clause.iter().any(|a| self.ignored.contains(a)) {
                    clauses.push((name.clone(), clause.clone()));
                }
            }
        }
        // Every alternative not yet chosen is asked about at once.
        let unknown: Vec<String> = clauses
            .iter()
            .flat_map(|(_, c)| c.iter())
            .filter(|a| !self.chosen.contains_key(*a))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let real = if unknown.is_empty() {
            BTreeMap::new()
        } else {
            self.index.candidates(&unknown)?
        };
        for (from, clause) in clauses {
            let pick = clause
                .iter()
                .find(|a| self.known(a))
                .or_else(|| clause.iter().find(|a| real.contains_key(*a)))
                .cloned();
            match pick {
                Some(p) => self.depend(&from, p),
                None => self.deferred.push((from, clause)),
            }
        }
        Ok(())
    }

    /// Decides the virtual clauses: by a provider already chosen, else by
    /// the only provider (one at a time, since it may satisfy the others).
    fn decide_virtual(&mut self) -> Result<(), ResolveError> {
        let deferred = std::mem::take(&mut self.deferred);
        let mut single: Option<(String, String)> = None;
        let mut ambiguous = None;
        let mut left = Vec::new();
        for (from, clause) in deferred {
            let mut decided = None;
            let mut options = Vec::new();
            for a in &clause {
                let ps = self.providers_of(a)?;
                if let Some(p) = ps.iter().find(|p| self.known(p)) {
                    decided = Some(p.clone());
                    break;
                }
                options.push((a.clone(), ps));
            }
            if let Some(p) = decided {
                self.depend(&from, p);
                continue;
            }
            match options.iter().find(|(_, ps)| !ps.is_empty()) {
                None => {
                    return Err(ResolveError::Unknown {
                        package: clause.join(" | "),
                        needed_by: from,
                    })
                }
                Some((_, ps)) if ps.len() == 1 && single.is_none() => {
                    single = Some((from.clone(), ps[0].clone()));
                }
                Some((a, ps)) => {
                    if ambiguous.is_none() && ps.len() > 1 {
                        ambiguous = Some(ResolveError::Ambiguous {
                            package: a.clone(),
                            needed_by: from.clone(),
                            providers: ps.join(", "),
                        });
                    }
                    left.push((from, clause));
                }
            }
        }
        self.deferred = left;
        match single {
            Some((from, p)) => {
                self.depend(&from, p);
                Ok(())
            }
            None if self.wanted.is_empty() => match ambiguous {
                Some(e) => Err(e),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

/// Groups the chosen packages into components (Tarjan's strongly connected
/// components) and writes the lock.
fn assemble(
    roots: &BTreeSet<String>,
    ignored: &BTreeSet<String>,
    chosen: BTreeMap<String, Record>,
    edges: BTreeMap<String, BTreeSet<String>>,
) -> DebianLock {
    let names: Vec<String> = chosen.keys().cloned().collect();
    let at: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let succ: Vec<Vec<usize>> = names
        .iter()
        .map(|n| edges[n].iter().map(|d| at[d.as_str()]).collect())
        .collect();
    let sccs = tarjan(&succ);
    let mut component_of = vec![String::new(); names.len()];
    let mut components = BTreeMap::new();
    for scc in &sccs {
        // Named after its smallest member: stable across refreshes.
        let name = scc
            .iter()
            .map(|&i| names[i].clone())
            .min()
            .expect("non-empty");
        for &i in scc {
            component_of[i] = name.clone();
        }
        components.insert(
            name,
            Component {
                packages: scc.iter().map(|&i| names[i].clone()).collect(),
                depends: BTreeSet::new(),
            },
        );
    }
    for (i, s) in succ.iter().enumerate() {
        for &j in s {
            if component_of[i] != component_of[j] {
                let d = component_of[j].clone();
                components
                    .get_mut(&component_of[i])
                    .expect("named")
                    .depends
                    .insert(d);
            }
        }
    }
    let packages = chosen
        .into_iter()
        .map(|(name, r)| {
            let entry = LockedPackage {
                version: r.version,
                sha256: r.sha256,
                depends: edges[&name].clone(),
                component: component_of[at[name.as_str()]].clone(),
            };
            (name, entry)
        })
        .collect();
    DebianLock {
        comment: DebianLock::COMMENT.to_owned(),
        roots: roots.clone(),
        ignored: ignored.clone(),
        packages,
        components,
    }
}

/// Strongly connected components of the graph `succ` (iterative Tarjan).
fn tarjan(succ: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = succ.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        // (node, next successor to look at)
        let mut work = vec![(start, 0)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut k)) = work.last_mut() {
            if let Some(&w) = succ[v].get(*k) {
                *k += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(u, _)) = work.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                loop {
                    let w = stack.pop().expect("on stack");
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(scc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index from `(package, depends field)` pairs and `(virtual, providers)`.
    struct Fake {
        packages: BTreeMap<String, String>,
        virtuals: BTreeMap<String, Vec<String>>,
    }

    impl Fake {
        fn new(packages: &[(&str, &str)], virtuals: &[(&str, &[&str])]) -> Fake {
            Fake {
                packages: packages
                    .iter()
                    .map(|(p, d)| (p.to_string(), d.to_string()))
                    .collect(),
                virtuals: virtuals
                    .iter()
                    .map(|(v, ps)| (v.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                    .collect(),
            }
        }
    }

    impl DebianIndex for Fake {
        fn candidates(&self, names: &[String]) -> Result<BTreeMap<String, Record>, ResolveError> {
            Ok(names
                .iter()
                .filter_map(|n| {
                    let d = self.packages.get(n)?;
                    Some((
                        n.clone(),
                        Record {
                            package: n.clone(),
                            version: "1.0-1".into(),
                            sha256: "a".repeat(64),
                            depends: parse_depends(d),
                        },
                    ))
                })
                .collect())
        }
        fn providers(&self, name: &str) -> Result<Vec<String>, ResolveError> {
            Ok(self.virtuals.get(name).cloned().unwrap_or_default())
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn depends_fields_become_bare_alternatives() {
        assert_eq!(
            parse_depends("libc6 (>= 2.34), perl:any, a | b (<< 2) [amd64] <!nocheck>, "),
            vec![
                vec!["libc6".to_string()],
                vec!["perl".into()],
                vec!["a".into(), "b".into()]
            ]
        );
    }

    #[test]
    fn cycles_become_one_component_and_libc_is_not_followed() {
        let index = Fake::new(
            &[
                (
                    "app",
                    "libc6 (>= 2.34), perl, debconf (>= 0.5) | debconf-2.0",
                ),
                ("perl", "perl-base, perl-modules-5.36, libc6"),
                ("perl-modules-5.36", "perl-base (>= 5.36)"),
                ("perl-base", "perl-modules-5.36, libc6"),
                ("libc6", "libgcc-s1"),
                ("libgcc-s1", "libc6"),
            ],
            &[],
        );
        let lock = resolve(&set(&["app"]), &set(&["debconf", "debconf-2.0"]), &index).unwrap();
        assert_eq!(
            lock.packages.keys().collect::<Vec<_>>(),
            ["app", "libc6", "perl", "perl-base", "perl-modules-5.36"]
        );
        let perl = &lock.components["perl-base"];
        assert_eq!(perl.packages, set(&["perl-base", "perl-modules-5.36"]));
        assert_eq!(perl.depends, set(&["libc6"]));
        assert_eq!(
            lock.components["perl"].depends,
            set(&["libc6", "perl-base"])
        );
        assert_eq!(lock.components["app"].depends, set(&["libc6", "perl"]));
        assert!(lock.components["libc6"].depends.is_empty());
        assert_eq!(lock.packages["perl-modules-5.36"].component, "perl-base");
        // What the file says is what a reader gets back.
        let text = lock.to_text();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lock.json"), &text).unwrap();
        assert_eq!(
            DebianLock::read(&dir.path().join("lock.json")).unwrap(),
            lock
        );
    }

    #[test]
    fn alternatives_and_virtual_packages() {
        let index = Fake::new(
            &[
                ("app", "awk, gone | zlib1g, mail-transport-agent"),
                ("tool", "mawk"),
                ("mawk", ""),
                ("gawk", ""),
                ("zlib1g", ""),
                ("exim4", ""),
            ],
            &[
                ("awk", &["gawk", "mawk"]),
                ("mail-transport-agent", &["exim4"]),
            ],
        );
        // mawk is chosen through `tool`, so it satisfies awk.
        let lock = resolve(&set(&["app", "tool"]), &set(&[]), &index).unwrap();
        assert_eq!(
            lock.packages["app"].depends,
            set(&["exim4", "mawk", "zlib1g"])
        );
        // Without it, awk has two providers: the user must choose.
        let err = resolve(&set(&["app"]), &set(&[]), &index).unwrap_err();
        assert!(
            err.to_string().contains("awk (needed by app) is virtual")
                && err.to_string().contains("gawk, mawk"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_package_names_who_needs_it_and_what_to_run() {
        let index = Fake::new(&[("app", "libssl3t64")], &[]);
        let err = resolve(&set(&["app"]), &set(&[]), &index)
            .unwrap_err()
            .to_string();
        assert!(err.contains("libssl3t64 (needed by app)"), "{err}");
        assert!(
            err.contains("apt-get update") && err.contains("b8g bootstrap add-debian"),
            "{err}"
        );
        let err = resolve(&set(&["nosuch"]), &set(&[]), &index)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nosuch (needed by the lock's roots)"), "{err}");
    }

    #[test]
    fn a_lock_naming_what_is_not_there_is_refused() {
        let index = Fake::new(&[("app", "zlib1g"), ("zlib1g", "")], &[]);
        let mut lock = resolve(&set(&["app"]), &set(&[]), &index).unwrap();
        lock.packages.remove("zlib1g");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock.json");
        std::fs::write(&p, lock.to_text()).unwrap();
        let err = DebianLock::read(&p).unwrap_err().to_string();
        assert!(
            err.contains("app depends on zlib1g, which has no entry"),
            "{err}"
        );
    }
}
