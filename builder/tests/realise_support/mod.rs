//! Shared fixture of the realisation tests: a local store under a temporary
//! root holding a static busybox, and derivations running `busybox sh -c`.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::collections::HashMap;

use b8g_builder::builtin::Builtins;
use b8g_builder::realise::{realise, RealiseError, RealiseOptions};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::{NoProgress, Progress, ScheduleOptions};
use b8g_store::format::derivation::{Derivation, Output, PathError};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};

use crate::sandbox_support::host_busybox;

pub struct World {
    pub dir: tempfile::TempDir,
    pub store: LocalStore,
    pub busybox: StorePath,
    /// More input sources every derivation written from now on gets.
    pub extra_srcs: Vec<StorePath>,
    /// Modulo hashes of the derivations written so far, by full path.
    pub modulo: HashMap<String, [u8; 32]>,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path());
        let src = dir.path().join("bb-src");
        std::fs::create_dir_all(src.join("bin")).expect("mkdir");
        std::fs::copy(host_busybox(), src.join("bin/busybox")).expect("copy busybox");
        let busybox = store.add_recursive(&src, "busybox").expect("add busybox");
        World {
            dir,
            store,
            busybox,
            extra_srcs: Vec::new(),
            modulo: HashMap::new(),
        }
    }

    pub fn bb(&self) -> String {
        format!("{}/bin/busybox", self.store.print_path(&self.busybox))
    }

    /// Writes a derivation running `busybox sh -c script`; returns its path.
    pub fn drv(
        &mut self,
        name: &str,
        script: &str,
        outputs: &[&str],
        inputs: &[(&StorePath, &[&str])],
        fixed: Option<(&str, String)>,
    ) -> (StorePath, Derivation) {
        let mut drv = Derivation {
            system: "x86_64-linux".into(),
            builder: self.bb(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            ..Default::default()
        };
        drv.input_srcs.insert(self.store.print_path(&self.busybox));
        for src in &self.extra_srcs {
            drv.input_srcs.insert(self.store.print_path(src));
        }
        for (d, outs) in inputs {
            drv.input_drvs.insert(
                self.store.print_path(d),
                outs.iter().map(|s| s.to_string()).collect(),
            );
        }
        for o in outputs {
            let mut out = Output::default();
            if let Some((algo, hash)) = &fixed {
                out.hash_algo = algo.to_string();
                out.hash = hash.clone();
            }
            drv.outputs.insert(o.to_string(), out);
            drv.env.insert(o.to_string(), String::new());
        }
        drv.env.insert("name".into(), name.into());
        drv.env.insert("builder".into(), self.bb());
        drv.env.insert("system".into(), "x86_64-linux".into());
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
            .chain(drv.input_drvs.keys())
            .map(|p| self.store.parse_path(p).expect("store path"))
            .collect();
        let path = self
            .store
            .add_text(&format!("{name}.drv"), drv.to_aterm().as_bytes(), &refs)
            .expect("add drv");
        assert_eq!(
            path,
            drv.drv_path(self.store.store_dir()).expect("drv path"),
            "the store and the format agree on .drv paths"
        );
        self.modulo.insert(self.store.print_path(&path), h);
        (path, drv)
    }

    pub fn realise(
        &self,
        drvs: &[StorePath],
    ) -> Result<b8g_builder::realise::Realised, RealiseError> {
        self.realise_with(drvs, &NoProgress)
    }

    /// Like [`realise`](Self::realise), reporting to `progress`.
    pub fn realise_with(
        &self,
        drvs: &[StorePath],
        progress: &dyn Progress,
    ) -> Result<b8g_builder::realise::Realised, RealiseError> {
        let opts = RealiseOptions {
            schedule: ScheduleOptions {
                jobs: 2,
                keep_going: false,
            },
            ..Default::default()
        };
        let cancel = CancelToken::new().expect("eventfd");
        realise(
            &self.store,
            drvs,
            &opts,
            &Builtins::standard(),
            progress,
            &cancel,
        )
    }

    /// Replaces the store handle with a fresh one, as a new b8g process
    /// would open: the old handle's temporary roots are gone.
    pub fn reopen(&mut self) {
        self.store = open_store(self.dir.path());
    }

    pub fn out(&self, drv: &Derivation, name: &str) -> StorePath {
        self.store
            .parse_path(&drv.outputs[name].path)
            .expect("output path")
    }
}

/// The store of a [`World`] rooted at `root`.
pub fn open_store(root: &std::path::Path) -> LocalStore {
    LocalStore::open(&StoreConfig {
        store_dir: StoreDir::new("/b8g/store").expect("store dir"),
        state_dir: "/b8g/var/b8g".into(),
        root: Some(root.to_owned()),
    })
    .expect("open store")
}
