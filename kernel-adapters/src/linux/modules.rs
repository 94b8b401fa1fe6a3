//! Kernel modules: finding them in a kernel package and ordering them by the
//! dependencies recorded in each module's `.modinfo` section.
//!
//! Debian's kernel packages do not ship `modules.dep` (depmod writes it at
//! install time), so dependencies are read from the modules themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Why modules could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable kernel module: {why}")]
    BadModule { path: PathBuf, why: String },
    #[error("kernel module {name:?} not found under {dir} (needed by {needed_by})")]
    NotFound {
        name: String,
        dir: PathBuf,
        needed_by: String,
    },
}

/// `virtio-pci` and `virtio_pci` name the same module.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The `.ko` files of one kernel, by normalised module name.
#[derive(Debug, Clone)]
pub struct ModuleIndex {
    dir: PathBuf,
    modules: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Indexes `dir` (a `lib/modules/<version>` directory).
    pub fn scan(dir: &Path) -> Result<Self, ModulesError> {
        let mut modules = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let rd = fs::read_dir(&d).map_err(|source| ModulesError::Read {
                path: d.clone(),
                source,
            })?;
            for e in rd {
                let e = e.map_err(|source| ModulesError::Read {
                    path: d.clone(),
                    source,
                })?;
                let p = e.path();
                let ft = e.file_type().map_err(|source| ModulesError::Read {
                    path: p.clone(),
                    source,
                })?;
                if ft.is_dir() {
                    stack.push(p);
                } else if !ft.is_file() {
                    // A symlinked module could lead anywhere on the host; a
                    // kernel package holds its modules as regular files.
                    continue;
                } else if let Some(stem) = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".ko"))
                {
                    modules.insert(normalize(stem), p);
                }
            }
        }
        // modules.builtin lists modules compiled into the kernel: nothing to load.
        let list = dir.join("modules.builtin");
        let regular = fs::symlink_metadata(&list).is_ok_and(|m| m.is_file());
        let builtin = regular
            .then(|| fs::read_to_string(&list).ok())
            .flatten()
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next()?.strip_suffix(".ko").map(normalize))
            .collect();
        Ok(ModuleIndex {
            dir: dir.to_path_buf(),
            modules,
            builtin,
        })
    }

    pub fn path(&self, name: &str) -> Option<&Path> {
        self.modules.get(&normalize(name)).map(PathBuf::as_path)
    }

    /// The modules to load for `wanted`, each after its dependencies, without duplicates.
    /// Built-in modules are skipped.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<PathBuf>, ModulesError> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for w in wanted {
            self.visit(&normalize(w), "the configuration", &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        needed_by: &str,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<PathBuf>,
    ) -> Result<(), ModulesError> {
        if self.builtin.contains(name) || !seen.insert(name.to_string()) {
            return Ok(());
        }
        let path = self
            .modules
            .get(name)
            .ok_or_else(|| ModulesError::NotFound {
                name: name.to_string(),
                dir: self.dir.clone(),
                needed_by: needed_by.to_string(),
            })?;
        let info = modinfo(path)?;
        for dep in &info.depends {
            self.visit(dep, name, seen, order)?;
        }
        // Soft dependencies (`softdep=pre: crc32c`) name algorithms or aliases;
        // they are loaded when found and skipped otherwise, as modprobe does.
        for soft in &info.softdeps_pre {
            if let Some(module) = self.resolve_alias(soft)? {
                self.visit(&module, name, seen, order)?;
            }
        }
        order.push(path.clone());
        Ok(())
    }

    /// A module name for `name`, which may be a module or an alias of one.
    /// Aliases are looked up in the crypto and lib modules, where the
    /// algorithms that soft dependencies name live.
    fn resolve_alias(&self, name: &str) -> Result<Option<String>, ModulesError> {
        let n = normalize(name);
        if self.modules.contains_key(&n) || self.builtin.contains(&n) {
            return Ok(Some(n));
        }
        for (module, path) in &self.modules {
            let p = path.to_string_lossy();
            if !(p.contains("/kernel/crypto/")
                || p.contains("/kernel/lib/")
                || p.contains("/kernel/arch/"))
            {
                continue;
            }
            if modinfo(path)?
                .aliases
                .iter()
                .any(|a| normalize(a) == n || *a == format!("crypto-{name}"))
            {
                return Ok(Some(module.clone()));
            }
        }
        Ok(None)
    }
}

/// What the loader needs from a module's `.modinfo` section.
#[derive(Debug, Default)]
pub struct ModInfo {
    pub depends: Vec<String>,
    pub softdeps_pre: Vec<String>,
    pub aliases: Vec<String>,
}

/// The `depends=` list of a module's `.modinfo` section.
pub fn depends(path: &Path) -> Result<Vec<String>, ModulesError> {
    Ok(modinfo(path)?.depends)
}

/// Reads the `.modinfo` section of a module.
pub fn modinfo(path: &Path) -> Result<ModInfo, ModulesError> {
    use object::{Object, ObjectSection};
    let data = fs::read(path).map_err(|source| ModulesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |why: String| ModulesError::BadModule {
        path: path.to_path_buf(),
        why,
    };
    let file = object::File::parse(&*data).map_err(|e| bad(e.to_string()))?;
    let section = file
        .section_by_name(".modinfo")
        .ok_or_else(|| bad("no .modinfo section".into()))?;
    let raw = section.data().map_err(|e| bad(e.to_string()))?;
    let mut info = ModInfo::default();
    for kv in raw.split(|&b| b == 0) {
        let kv = String::from_utf8_lossy(kv);
        if let Some(v) = kv.strip_prefix("depends=") {
            info.depends
                .extend(v.split(',').filter(|d| !d.is_empty()).map(normalize));
        } else if let Some(v) = kv.strip_prefix("softdep=") {
            // "pre: a b post: c"
            let mut pre = false;
            for w in v.split_whitespace() {
                match w {
                    "pre:" => pre = true,
                    "post:" => pre = false,
                    m if pre => info.softdeps_pre.push(m.to_string()),
                    _ => {}
                }
            }
        } else if let Some(v) = kv.strip_prefix("alias=") {
            info.aliases.push(v.to_string());
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uses the host's installed Debian kernel modules (linux-image-amd64, installed by `cargo xtask test`).
    fn host_modules() -> PathBuf {
        let base = Path::new("/lib/modules");
        let mut dirs: Vec<PathBuf> = fs::read_dir(base)
            .expect("/lib/modules exists: install linux-image-amd64")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("kernel").is_dir())
            .collect();
        dirs.sort();
        dirs.pop()
            .expect("a kernel's modules under /lib/modules: install linux-image-amd64")
    }

    #[test]
    fn virtio_blk_and_erofs_come_after_their_dependencies() {
        let idx = ModuleIndex::scan(&host_modules()).unwrap();
        let order = idx
            .load_order(&["virtio-pci", "virtio_blk", "erofs", "virtio_blk"])
            .unwrap();
        let names: Vec<String> = order
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().replace('-', "_"))
            .collect();
        let pos = |n: &str| {
            names
                .iter()
                .position(|x| x == n)
                .unwrap_or_else(|| panic!("{n} missing from {names:?}"))
        };
        assert!(pos("virtio") < pos("virtio_pci"), "{names:?}");
        assert!(pos("virtio_ring") < pos("virtio_blk"), "{names:?}");
        assert_eq!(names.iter().filter(|n| *n == "virtio_blk").count(), 1);
        assert!(names.contains(&"erofs".to_string()));
    }

    #[test]
    fn unknown_module_names_what_needed_it() {
        let idx = ModuleIndex::scan(&host_modules()).unwrap();
        let err = idx.load_order(&["no_such_module_b8g"]).unwrap_err();
        assert!(err.to_string().contains("no_such_module_b8g"), "{err}");
    }
}
