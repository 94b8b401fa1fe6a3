//! A store under a temporary root, derivations naming builtin builders, and
//! snapshots of what lies outside the store, for the containment tests of
//! builtin builders (builder's and kernel-adapters' `builtin_containment`).
#![allow(dead_code, reason = "each test binary uses part of the bench")]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use b8g_builder::builtin::Builtins;
use b8g_builder::realise::{realise, RealiseError, RealiseOptions};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::{NoProgress, ScheduleOptions};
use b8g_store::format::derivation::{Derivation, Output, PathError};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};

pub struct Bench {
    /// The store's physical root: `<root>/b8g/store` holds `/b8g/store`.
    pub root: tempfile::TempDir,
    pub store: LocalStore,
    /// A host directory outside the store (and outside its root).
    pub outside: tempfile::TempDir,
    modulo: HashMap<String, [u8; 32]>,
}

impl Bench {
    pub fn new() -> Bench {
        let root = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&StoreConfig {
            store_dir: StoreDir::new("/b8g/store").expect("store dir"),
            state_dir: "/b8g/var/b8g".into(),
            root: Some(root.path().to_owned()),
        })
        .expect("open store");
        Bench {
            root,
            store,
            outside: tempfile::tempdir().expect("tempdir"),
            modulo: HashMap::new(),
        }
    }

    /// Adds a store path laid out by `make` in a fresh directory.
    pub fn add(&self, name: &str, make: impl FnOnce(&Path)) -> StorePath {
        let src = tempfile::tempdir().expect("tempdir");
        let top = src.path().join("top");
        fs::create_dir(&top).expect("mkdir");
        make(&top);
        self.store.add_recursive(&top, name).expect("add to store")
    }

    pub fn print(&self, p: &StorePath) -> String {
        self.store.print_path(p)
    }

    /// Writes a derivation whose builder is `builtin:<builtin>` with `attrs`,
    /// depending on the sources `srcs`.
    pub fn builtin_drv(
        &mut self,
        name: &str,
        builtin: &str,
        attrs: &[(&str, String)],
        srcs: &[&StorePath],
    ) -> (StorePath, Derivation) {
        let mut drv = Derivation {
            system: "x86_64-linux".into(),
            builder: format!("builtin:{builtin}"),
            ..Default::default()
        };
        for s in srcs {
            drv.input_srcs.insert(self.store.print_path(s));
        }
        drv.outputs.insert("out".into(), Output::default());
        drv.env.insert("out".into(), String::new());
        drv.env.insert("name".into(), name.into());
        drv.env.insert("builder".into(), drv.builder.clone());
        drv.env.insert("system".into(), "x86_64-linux".into());
        for (k, v) in attrs {
            drv.env.insert(k.to_string(), v.clone());
        }
        let modulo = &self.modulo;
        drv.fill_output_paths::<PathError>(self.store.store_dir(), &mut |p| {
            Ok(*modulo.get(p).expect("input derivation written before"))
        })
        .expect("output paths");
        let h = drv
            .hash_modulo::<PathError>(false, &mut |p| Ok(self.modulo[p]))
            .expect("modulo hash");
        let refs: Vec<StorePath> = drv
            .input_srcs
            .iter()
            .map(|p| self.store.parse_path(p).expect("store path"))
            .collect();
        let path = self
            .store
            .add_text(&format!("{name}.drv"), drv.to_aterm().as_bytes(), &refs)
            .expect("add drv");
        self.modulo.insert(self.store.print_path(&path), h);
        (path, drv)
    }

    pub fn realise(&self, drv: &StorePath, builtins: &Builtins) -> Result<(), RealiseError> {
        let opts = RealiseOptions {
            schedule: ScheduleOptions {
                jobs: 1,
                keep_going: false,
            },
            ..Default::default()
        };
        let cancel = CancelToken::new().expect("eventfd");
        realise(
            &self.store,
            std::slice::from_ref(drv),
            &opts,
            builtins,
            &NoProgress,
            &cancel,
        )
        .map(|_| ())
    }

    /// Realises `drv` (which must fail with a message containing `why`) and
    /// checks that nothing was registered and its output does not exist.
    pub fn expect_refused(
        &self,
        drv: &StorePath,
        d: &Derivation,
        builtins: &Builtins,
        why: &str,
    ) -> String {
        let before = self.store.valid_paths().expect("valid paths");
        let err = self
            .realise(drv, builtins)
            .expect_err("the hostile derivation must fail")
            .to_string();
        assert!(err.contains(why), "error {err:?} does not say {why:?}");
        assert_eq!(
            self.store.valid_paths().expect("valid paths"),
            before,
            "something was registered"
        );
        let out = self.store.parse_path(&d.outputs["out"].path).expect("out");
        assert!(!self.store.is_valid(&out).expect("query"));
        assert!(
            fs::symlink_metadata(self.store.real_path(&out)).is_err(),
            "the output exists in the store"
        );
        err
    }
}

/// Contents, mode and mtime of every entry under a directory, to show that
/// nothing there changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, (Vec<u8>, u32, i64, i64)>);

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        let mut all = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(p) = stack.pop() {
            let m = fs::symlink_metadata(&p).expect("stat");
            let data = if m.is_file() {
                fs::read(&p).expect("read")
            } else if m.file_type().is_symlink() {
                fs::read_link(&p)
                    .expect("readlink")
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                for e in fs::read_dir(&p).expect("read dir") {
                    stack.push(e.expect("entry").path());
                }
                Vec::new()
            };
            all.insert(p, (data, m.mode(), m.mtime(), m.mtime_nsec()));
        }
        Snapshot(all)
    }
}
