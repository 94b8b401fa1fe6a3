//! Shared fixture for the toolchain tests: one local store under a temporary
//! root (logical `/b8g/store`), recipes evaluated by b8g-eval and realised in
//! the sandbox, and ELF checks done with the host's `readelf`.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use b8g_builder::builtin::Builtins;
use b8g_builder::glue::EvalSession;
use b8g_builder::realise::{realise, RealiseOptions};
use b8g_builder::sandbox::CancelToken;
use b8g_builder::schedule::{NoProgress, ScheduleOptions};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::{LocalStore, StoreConfig};

pub const STORE: &str = "/b8g/store";

/// A store under a temporary root.
pub struct World {
    dir: tempfile::TempDir,
    pub config: StoreConfig,
}

static SHARED: OnceLock<World> = OnceLock::new();
static SHARED_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_shared_store() {
    if let Some(dir) = SHARED_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The store all tests of one binary share (so seeds are built once per run).
/// A static is never dropped, so its directory is removed when the process exits.
pub fn shared() -> &'static World {
    SHARED.get_or_init(|| {
        let w = World::new();
        if SHARED_DIR.set(w.dir.path().to_owned()).is_ok() {
            // SAFETY: registers a plain function with no captured state.
            unsafe { libc::atexit(remove_shared_store) };
        }
        w
    })
}

/// The `recipes/` directory of the workspace.
pub fn recipes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../recipes")
        .canonicalize()
        .expect("recipes/ exists")
}

impl World {
    /// A fresh, empty store.
    pub fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("b8g-toolchain-test")
            .tempdir()
            .expect("create temporary directory");
        let config = StoreConfig {
            store_dir: StoreDir::new(STORE).expect("store dir"),
            state_dir: "/b8g/var/b8g".into(),
            root: Some(dir.path().to_owned()),
        };
        World { dir, config }
    }

    pub fn store(&self) -> LocalStore {
        LocalStore::open(&self.config).expect("open store")
    }

    /// `import recipes/pkgs` as a Nix expression.
    pub fn pkgs_expr(&self) -> String {
        format!("(/. + \"{}/pkgs\")", recipes().display())
    }

    /// Builds `pkgs.<attr>`; returns its `out` path.
    pub fn build_attr(&self, attr: &str) -> StorePath {
        self.build_expr(&format!("(import {} {{ }}).{attr}", self.pkgs_expr()))
    }

    /// Evaluates `expr` (one derivation), realises it, returns its `out` path.
    pub fn build_expr(&self, expr: &str) -> StorePath {
        let drvs = self.instantiate(expr);
        assert_eq!(drvs.len(), 1, "expected one derivation, got {drvs:?}");
        let r = self.realise(&drvs, false);
        r.outputs[&drvs[0]]["out"].clone()
    }

    /// Evaluates `expr` (derivations, or a list or set of them), builds them,
    /// then rebuilds them with `--check`; panics when a rebuild differs.
    pub fn check_expr(&self, expr: &str) -> usize {
        let drvs = self.instantiate(expr);
        self.realise(&drvs, false);
        self.realise(&drvs, true);
        drvs.len()
    }

    /// The `.drv` paths `nix-instantiate` would give for `expr`.
    fn instantiate(&self, expr: &str) -> Vec<StorePath> {
        let store = self.store();
        let expr = expr.to_owned();
        let drvs = EvalSession::writing(store)
            .base_dir(&recipes())
            .instantiate_expr(expr)
            .unwrap_or_else(|e| panic!("evaluation failed: {e}"));
        let store = self.store();
        drvs.iter()
            .map(|d| store.parse_path(d).expect("drv path"))
            .collect()
    }

    /// Realises `drvs` (with `check`, rebuilds and compares them).
    fn realise(&self, drvs: &[StorePath], check: bool) -> b8g_builder::realise::Realised {
        let store = self.store();
        let opts = RealiseOptions {
            schedule: ScheduleOptions {
                jobs: 2,
                keep_going: false,
            },
            check,
            ..Default::default()
        };
        let cancel = CancelToken::new().expect("eventfd");
        realise(
            &store,
            drvs,
            &opts,
            &Builtins::standard(),
            &NoProgress,
            &cancel,
        )
        .unwrap_or_else(|e| {
            panic!(
                "realising {drvs:?} (check: {check}) failed: {e}\n(build logs under {})",
                store.state_dir().join("log").display()
            )
        })
    }

    /// Where a store path's bytes are.
    pub fn real(&self, p: &StorePath) -> PathBuf {
        self.store().real_path(p)
    }

    /// Where a logical path under the store directory is on this machine.
    pub fn real_logical(&self, logical: &str) -> PathBuf {
        let rel = logical.trim_start_matches('/');
        self.dir.path().join(rel)
    }

    /// Dynamic ELF files (programs and shared libraries) in the closure of `p`,
    /// except glibc's own, which are used as Debian built them.
    pub fn closure_elf_files(&self, p: &StorePath) -> Vec<PathBuf> {
        let store = self.store();
        let mut out = Vec::new();
        for q in store.closure([p]).expect("closure") {
            let name = store.print_path(&q);
            if name.contains("-libc6-") {
                continue;
            }
            for dir in ["bin", "sbin", "lib/x86_64-linux-gnu", "lib"] {
                let Ok(rd) = std::fs::read_dir(store.real_path(&q).join(dir)) else {
                    continue;
                };
                for e in rd.flatten() {
                    let path = e.path();
                    let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
                    if is_file && is_dynamic_elf(&path) {
                        out.push(path);
                    }
                }
            }
        }
        out
    }
}

fn is_dynamic_elf(p: &Path) -> bool {
    let Ok(bytes) = std::fs::read(p) else {
        return false;
    };
    bytes.starts_with(b"\x7fELF") && readelf(p).contains("(NEEDED)")
}

fn readelf(p: &Path) -> String {
    let out = Command::new("readelf")
        .args(["-lWd"])
        .arg(p)
        .output()
        .expect("cannot run readelf: install binutils");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `readelf -l -d` says about a file's interpreter, RUNPATH/RPATH and needed libraries.
pub struct ElfDeps {
    pub interpreter: Option<String>,
    pub runpath: Vec<String>,
    pub needed: Vec<String>,
}

pub fn elf_deps(p: &Path) -> ElfDeps {
    let text = readelf(p);
    let bracket = |line: &str| -> Option<String> {
        let start = line.find('[')? + 1;
        let end = line[start..].find(']')? + start;
        Some(line[start..end].to_owned())
    };
    let mut d = ElfDeps {
        interpreter: None,
        runpath: Vec::new(),
        needed: Vec::new(),
    };
    for line in text.lines() {
        if line.contains("Requesting program interpreter:") {
            d.interpreter = line
                .split("interpreter: ")
                .nth(1)
                .map(|s| s.trim_end_matches(']').to_owned());
        } else if line.contains("(RUNPATH)") || line.contains("(RPATH)") {
            if let Some(b) = bracket(line) {
                d.runpath.extend(b.split(':').map(str::to_owned));
            }
        } else if line.contains("(NEEDED)") {
            d.needed.extend(bracket(line));
        }
    }
    d
}

/// Asserts that `p` names only store paths: its interpreter is in the store and
/// exists, its RUNPATH holds only store directories, and every needed library
/// is found in them (so neither /lib nor /usr is consulted).
pub fn check_elf_store_only(w: &World, p: &Path) {
    let d = elf_deps(p);
    let prefix = format!("{STORE}/");
    if let Some(i) = &d.interpreter {
        assert!(
            i.starts_with(&prefix),
            "{}: interpreter {i} is not in the store",
            p.display()
        );
        assert!(
            w.real_logical(i).exists(),
            "{}: interpreter {i} does not exist",
            p.display()
        );
    }
    for r in &d.runpath {
        assert!(
            r.starts_with(&prefix),
            "{}: RUNPATH entry {r} is not in the store",
            p.display()
        );
    }
    for n in &d.needed {
        let found = d
            .runpath
            .iter()
            .any(|r| w.real_logical(&format!("{r}/{n}")).exists());
        // ld.so itself is loaded as the interpreter, not looked up.
        assert!(
            found || n.starts_with("ld-linux"),
            "{}: needed {n} is in none of its RUNPATH {:?}",
            p.display(),
            d.runpath
        );
    }
}
