//! Glue between the evaluator (b8g-eval) and the store (b8g-store).
//!
//! [`StoreHost`] implements `b8g_eval::EvalHost`: copying sources into the
//! store, `builtins.toFile`, and writing derivations with Nix's output paths
//! (hashDerivationModulo, memoised per `.drv`). With a [`GlueStore`] (the
//! local store) it writes; without one (`StoreHost::dry_run`) it computes the
//! same paths and writes nothing, as Nix's read-only evaluation does. The
//! evaluator itself never sees the store. `builtins.fetchurl` and
//! `fetchTarball` download through [`fetch`] at evaluation time; a dry run
//! downloads too (the path depends on the content) but keeps nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub mod fetch;
mod session;

pub use session::{EvalSession, SessionError};

use b8g_eval::{DrvOut, DrvSpec, EvalHost, FetchRequest, FixedOutput};
use b8g_store::format::derivation::{Derivation, Output};
use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::store_path::{FileIngestionMethod, StoreDir, StorePath};
use b8g_store::local::LocalStore;

/// What the glue needs from a store that keeps objects. Paths are full
/// logical store paths (`/nix/store/…`); errors are messages for the user.
pub trait GlueStore: Send {
    /// Adds a tree by its NAR hash (a `source` path).
    fn add_recursive(&self, src: &Path, name: &str) -> Result<String, String>;
    /// Adds a regular file by the hash of its bytes.
    fn add_flat(&self, src: &Path, name: &str) -> Result<String, String>;
    /// Adds a text object (`toFile`, `.drv`) with references.
    fn add_text(&self, name: &str, contents: &[u8], refs: &[String]) -> Result<String, String>;
    /// The references of a valid path.
    fn references(&self, path: &str) -> Result<BTreeSet<String>, String>;
    /// Where a logical store path is on disk (differs for chroot stores).
    fn real_path(&self, path: &str) -> PathBuf;
    /// Whether a path is valid (registered) in the store.
    fn is_valid(&self, path: &str) -> Result<bool, String>;
}

impl GlueStore for LocalStore {
    fn add_recursive(&self, src: &Path, name: &str) -> Result<String, String> {
        let p = LocalStore::add_recursive(self, src, name).map_err(|e| e.to_string())?;
        Ok(self.print_path(&p))
    }
    fn add_flat(&self, src: &Path, name: &str) -> Result<String, String> {
        let p = LocalStore::add_flat(self, src, name).map_err(|e| e.to_string())?;
        Ok(self.print_path(&p))
    }
    fn add_text(&self, name: &str, contents: &[u8], refs: &[String]) -> Result<String, String> {
        let refs: Vec<StorePath> = refs
            .iter()
            .map(|r| self.parse_path(r).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let p = LocalStore::add_text(self, name, contents, &refs).map_err(|e| e.to_string())?;
        Ok(self.print_path(&p))
    }
    fn references(&self, path: &str) -> Result<BTreeSet<String>, String> {
        let sp = self.parse_path(path).map_err(|e| e.to_string())?;
        let refs = LocalStore::references(self, &sp).map_err(|e| e.to_string())?;
        Ok(refs.iter().map(|r| self.print_path(r)).collect())
    }
    fn real_path(&self, path: &str) -> PathBuf {
        match self.parse_path(path) {
            Ok(sp) => LocalStore::real_path(self, &sp),
            Err(_) => PathBuf::from(path),
        }
    }
    fn is_valid(&self, path: &str) -> Result<bool, String> {
        let sp = self.parse_path(path).map_err(|e| e.to_string())?;
        LocalStore::is_valid(self, &sp).map_err(|e| e.to_string())
    }
}

/// The evaluator's store host.
pub struct StoreHost {
    store_dir: StoreDir,
    store: Option<Box<dyn GlueStore>>,
    /// Derivations written (or read) during this evaluation, by `.drv` path.
    drvs: HashMap<String, Derivation>,
    /// hashDerivationModulo of each `.drv`, as used when it is an input.
    modulo: HashMap<String, [u8; 32]>,
    /// References of text objects added in this session (for `=` contexts in dry runs).
    text_refs: HashMap<String, BTreeSet<String>>,
    /// Sources already copied: (path, name, recursive) → store path.
    sources: HashMap<(String, String, bool), String>,
    /// Fetched in this session: (url, name, unpack) → (store path, declared hash).
    fetched: HashMap<(String, String, bool), (String, Option<FixedOutput>)>,
}

impl StoreHost {
    /// A host that writes into `store`, whose store directory is `store_dir`.
    pub fn new(store_dir: StoreDir, store: Box<dyn GlueStore>) -> StoreHost {
        StoreHost {
            store_dir,
            store: Some(store),
            drvs: HashMap::new(),
            modulo: HashMap::new(),
            text_refs: HashMap::new(),
            sources: HashMap::new(),
            fetched: HashMap::new(),
        }
    }

    /// A host that computes store paths for `store_dir` and writes nothing.
    pub fn dry_run(store_dir: StoreDir) -> StoreHost {
        StoreHost {
            store_dir,
            store: None,
            drvs: HashMap::new(),
            modulo: HashMap::new(),
            text_refs: HashMap::new(),
            sources: HashMap::new(),
            fetched: HashMap::new(),
        }
    }

    /// A derivation made in this session, by its `.drv` path.
    pub fn derivation(&self, drv_path: &str) -> Option<&Derivation> {
        self.drvs.get(drv_path)
    }

    fn parse(&self, p: &str) -> Result<StorePath, String> {
        self.store_dir.parse_path(p).map_err(|e| e.to_string())
    }

    fn load_drv(&mut self, path: &str) -> Result<Derivation, String> {
        if let Some(d) = self.drvs.get(path) {
            return Ok(d.clone());
        }
        let real: PathBuf = match &self.store {
            Some(s) => s.real_path(path),
            None => PathBuf::from(path),
        };
        let bytes =
            std::fs::read(&real).map_err(|e| format!("reading derivation '{path}': {e}"))?;
        let d =
            Derivation::parse(&bytes).map_err(|e| format!("parsing derivation '{path}': {e}"))?;
        self.drvs.insert(path.to_string(), d.clone());
        Ok(d)
    }

    /// hashDerivationModulo of an input derivation (outputs not masked).
    fn modulo_of(&mut self, path: &str) -> Result<[u8; 32], String> {
        if let Some(h) = self.modulo.get(path) {
            return Ok(*h);
        }
        let drv = self.load_drv(path)?;
        let h = drv.hash_modulo(false, &mut |p: &str| self.modulo_of(p))?;
        self.modulo.insert(path.to_string(), h);
        Ok(h)
    }

    fn references(&mut self, path: &str) -> Result<BTreeSet<String>, String> {
        if path.ends_with(".drv") {
            let d = self.load_drv(path)?;
            return Ok(d
                .input_srcs
                .iter()
                .chain(d.input_drvs.keys())
                .cloned()
                .collect());
        }
        if let Some(r) = self.text_refs.get(path) {
            return Ok(r.clone());
        }
        match &self.store {
            Some(s) => s.references(path),
            None => Ok(BTreeSet::new()),
        }
    }

    fn closure(&mut self, start: &str) -> Result<BTreeSet<String>, String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(p) = todo.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            todo.extend(self.references(&p)?);
        }
        Ok(seen)
    }
}

fn algo_of(name: &str) -> Result<HashAlgo, String> {
    HashAlgo::ALL
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| format!("unknown hash algorithm '{name}'"))
}

fn hex_to_hash(algo: &str, hex: &str) -> Result<Hash, String> {
    let algo = algo_of(algo)?;
    Hash::parse_unprefixed(hex, algo).map_err(|e| e.to_string())
}

/// Copies the entries of `src` that `keep` lists into `dst` (a new directory).
fn copy_filtered(src: &Path, dst: &Path, keep: &HashSet<String>) -> std::io::Result<()> {
    std::fs::create_dir(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        if !keep.contains(from.to_string_lossy().as_ref()) {
            continue;
        }
        let to = dst.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            copy_filtered(&from, &to, keep)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "b8g-glue-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover scratch dir in /tmp is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl EvalHost for StoreHost {
    fn store_dir(&self) -> String {
        self.store_dir.as_str().to_string()
    }

    fn add_path(
        &mut self,
        path: &str,
        name: &str,
        recursive: bool,
        filter: Option<&HashSet<String>>,
        expected_sha256_hex: Option<&str>,
    ) -> Result<String, String> {
        let key = (path.to_string(), name.to_string(), recursive);
        if filter.is_none() {
            if let Some(p) = self.sources.get(&key) {
                return Ok(p.clone());
            }
        }
        let scratch;
        let src: PathBuf = match filter {
            Some(keep) => {
                scratch = Scratch::new().map_err(|e| format!("creating a scratch dir: {e}"))?;
                let dst = scratch.0.join("tree");
                copy_filtered(Path::new(path), &dst, keep)
                    .map_err(|e| format!("copying '{path}': {e}"))?;
                dst
            }
            None => PathBuf::from(path),
        };
        let (method, hash) = if recursive {
            let (h, _) = b8g_store::nar_fs::hash_path(&src, HashAlgo::Sha256)
                .map_err(|e| format!("hashing '{path}': {e}"))?;
            (FileIngestionMethod::Recursive, h)
        } else {
            let bytes = std::fs::read(&src).map_err(|e| format!("reading '{path}': {e}"))?;
            (FileIngestionMethod::Flat, HashAlgo::Sha256.digest(&bytes))
        };
        if let Some(want) = expected_sha256_hex {
            if hash.to_base16() != want {
                return Err(format!(
                    "hash mismatch importing path '{path}';\n  specified: sha256:{want}\n  got:       sha256:{}",
                    hash.to_base16()
                ));
            }
        }
        let full = match &self.store {
            Some(s) => {
                if recursive {
                    s.add_recursive(&src, name)?
                } else {
                    s.add_flat(&src, name)?
                }
            }
            None => {
                let sp = self
                    .store_dir
                    .make_fixed_output_path(name, method, &hash, &[])
                    .map_err(|e| e.to_string())?;
                self.store_dir.display(&sp)
            }
        };
        if filter.is_none() {
            self.sources.insert(key, full.clone());
        }
        Ok(full)
    }

    fn add_text(
        &mut self,
        name: &str,
        text: &str,
        refs: &BTreeSet<String>,
    ) -> Result<String, String> {
        let mut parsed = Vec::new();
        for r in refs {
            parsed.push(self.parse(r)?);
        }
        let full = match &self.store {
            Some(s) => {
                let refs: Vec<String> = refs.iter().cloned().collect();
                s.add_text(name, text.as_bytes(), &refs)?
            }
            None => {
                let sp = self
                    .store_dir
                    .make_text_path(name, &HashAlgo::Sha256.digest(text.as_bytes()), &parsed)
                    .map_err(|e| e.to_string())?;
                self.store_dir.display(&sp)
            }
        };
        self.text_refs.insert(full.clone(), refs.clone());
        Ok(full)
    }

    fn write_derivation(&mut self, spec: DrvSpec) -> Result<DrvOut, String> {
        let mut drv = Derivation {
            system: spec.platform,
            builder: spec.builder,
            args: spec.args,
            env: spec.env,
            input_drvs: spec.input_drvs,
            ..Default::default()
        };
        // `=drv` contexts bring the whole closure of that derivation in, as Nix does.
        for src in spec.input_srcs {
            match src.strip_prefix('=') {
                Some(drv_path) => {
                    for p in self.closure(drv_path)? {
                        if p.ends_with(".drv") {
                            let outs: BTreeSet<String> =
                                self.load_drv(&p)?.outputs.keys().cloned().collect();
                            drv.input_drvs.entry(p.clone()).or_default().extend(outs);
                        }
                        drv.input_srcs.insert(p);
                    }
                }
                None => {
                    drv.input_srcs.insert(src);
                }
            }
        }
        match &spec.fixed {
            Some(f) => {
                drv.outputs.insert(
                    "out".into(),
                    Output {
                        path: String::new(),
                        hash_algo: format!("{}{}", if f.recursive { "r:" } else { "" }, f.algo),
                        hash: f.hash_hex.clone(),
                    },
                );
            }
            None => {
                for o in &spec.outputs {
                    drv.outputs.insert(o.clone(), Output::default());
                    drv.env.insert(o.clone(), String::new());
                }
            }
        }
        // The name comes from the spec, not from `env`: with __structuredAttrs
        // the environment holds only `__json` and the outputs.
        let name = spec.name.clone();
        let store_dir = self.store_dir.clone();
        if spec.fixed.is_some() {
            let (method, hash) = drv
                .fixed_hash("out")
                .map_err(|e| e.to_string())?
                .ok_or("fixed output without a hash")?;
            let p = store_dir
                .make_fixed_output_path(&name, method, &hash, &[])
                .map_err(|e| e.to_string())?;
            let full = store_dir.display(&p);
            if let Some(o) = drv.outputs.get_mut("out") {
                o.path = full.clone();
            }
            drv.env.insert("out".into(), full);
        } else {
            let modulo = drv.hash_modulo(true, &mut |p: &str| self.modulo_of(p))?;
            let modulo = Hash::from_digest(HashAlgo::Sha256, &modulo).map_err(|e| e.to_string())?;
            for (out, o) in drv.outputs.iter_mut() {
                let p = store_dir
                    .make_output_path(&modulo, out, &name)
                    .map_err(|e| e.to_string())?;
                o.path = store_dir.display(&p);
                drv.env.insert(out.clone(), o.path.clone());
            }
        }
        let mut refs = Vec::new();
        for p in drv.input_srcs.iter().chain(drv.input_drvs.keys()) {
            refs.push(self.parse(p)?);
        }
        let text_hash = HashAlgo::Sha256.digest(drv.to_aterm().as_bytes());
        let drv_path = store_dir
            .make_text_path(&format!("{name}.drv"), &text_hash, &refs)
            .map_err(|e| e.to_string())?;
        let full = store_dir.display(&drv_path);
        if let Some(s) = &self.store {
            let refs: Vec<String> = drv
                .input_srcs
                .iter()
                .chain(drv.input_drvs.keys())
                .cloned()
                .collect();
            let name = format!("{}.drv", spec.name);
            let written = s.add_text(&name, drv.to_aterm().as_bytes(), &refs)?;
            if written != full {
                return Err(format!("the store wrote {written}, expected {full}"));
            }
        }
        let outputs: BTreeMap<String, String> = drv
            .outputs
            .iter()
            .map(|(n, o)| (n.clone(), o.path.clone()))
            .collect();
        self.drvs.insert(full.clone(), drv);
        Ok(DrvOut {
            drv_path: full,
            outputs,
        })
    }

    fn fixed_output_path(&self, name: &str, fixed: &FixedOutput) -> Result<String, String> {
        let hash = hex_to_hash(&fixed.algo, &fixed.hash_hex)?;
        let method = if fixed.recursive {
            FileIngestionMethod::Recursive
        } else {
            FileIngestionMethod::Flat
        };
        let sp = self
            .store_dir
            .make_fixed_output_path(name, method, &hash, &[])
            .map_err(|e| e.to_string())?;
        Ok(self.store_dir.display(&sp))
    }

    fn fetch(&mut self, req: &FetchRequest) -> Result<String, String> {
        let key = (req.url.clone(), req.name.clone(), req.unpack);
        if let Some((p, expected)) = self.fetched.get(&key) {
            if req.expected.is_none() || *expected == req.expected {
                return Ok(p.clone());
            }
        }
        // Like Nix, skip the download when the declared content is already in the store.
        if let (Some(want), Some(store)) = (&req.expected, &self.store) {
            let path = self.fixed_output_path(&req.name, want)?;
            if store.is_valid(&path)? {
                self.fetched
                    .insert(key, (path.clone(), req.expected.clone()));
                return Ok(path);
            }
        }
        let scratch = Scratch::new().map_err(|e| format!("creating a scratch dir: {e}"))?;
        let file = scratch.0.join("download");
        fetch::download(&req.url, &file).map_err(|e| e.to_string())?;
        let content = if req.unpack {
            fetch::unpack_tarball(&req.url, &file, &scratch.0.join("unpacked"))
                .map_err(|e| e.to_string())?
        } else {
            file
        };
        let hash = fetch::check(&req.url, &content, req.unpack, req.expected.as_ref())
            .map_err(|e| e.to_string())?;
        let path = match &self.store {
            Some(s) if req.unpack => s.add_recursive(&content, &req.name)?,
            Some(s) => s.add_flat(&content, &req.name)?,
            None => {
                // A dry run computes the path Nix would give, from a SHA-256 of the content.
                let sha = if hash.algo() == HashAlgo::Sha256 {
                    hash
                } else {
                    fetch::hash_fetched(&content, req.unpack, HashAlgo::Sha256)
                        .map_err(|e| e.to_string())?
                };
                let method = if req.unpack {
                    FileIngestionMethod::Recursive
                } else {
                    FileIngestionMethod::Flat
                };
                let sp = self
                    .store_dir
                    .make_fixed_output_path(&req.name, method, &sha, &[])
                    .map_err(|e| e.to_string())?;
                self.store_dir.display(&sp)
            }
        };
        self.fetched
            .insert(key, (path.clone(), req.expected.clone()));
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    //! The derivation corpus (testdata/eval/drv): each file prints drv and
    //! output paths; ours must equal what Nix 2.8 printed (`.exp`), and what a
    //! live `nix-instantiate` prints (`drv_oracle_live`).

    use super::*;
    use b8g_eval::{run_with_big_stack, value_to_text, EvalOptions, Evaluator, OutputMode, StdIo};
    use std::process::Command;

    fn drv_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/eval/drv")
    }

    fn cases() -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(drv_dir())
            .expect("testdata/eval/drv exists")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "nix"))
            .collect();
        v.sort();
        v
    }

    fn ours(p: &Path, host: StoreHost) -> Result<String, String> {
        let p = p.to_string_lossy().into_owned();
        run_with_big_stack(move || {
            let mut ev = Evaluator::new(Box::new(StdIo), Box::new(host), EvalOptions::default());
            ev.eval_file(&p)
                .and_then(|v| value_to_text(&mut ev, v, OutputMode::Strict))
                .map_err(|e| e.to_string())
        })
        .expect("evaluation thread runs")
    }

    fn nix_store_dir() -> StoreDir {
        StoreDir::new("/nix/store").expect("valid store dir")
    }

    #[test]
    fn drv_corpus_golden() {
        let cases = cases();
        assert!(cases.len() >= 20, "need at least 20 derivation cases");
        let mut bad = Vec::new();
        for p in &cases {
            let exp = std::fs::read_to_string(p.with_extension("exp"))
                .unwrap_or_else(|_| panic!("{} has no .exp", p.display()));
            let got = ours(p, StoreHost::dry_run(nix_store_dir()));
            if got.as_deref() != Ok(exp.trim_end()) {
                bad.push(format!(
                    "{}:\n  want {}\n  got  {got:?}",
                    p.display(),
                    exp.trim_end()
                ));
            }
        }
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    /// The same files against a live `nix-instantiate` with a throw-away store.
    #[test]
    fn drv_oracle_live() {
        let tmp = std::env::temp_dir().join(format!("b8g-glue-oracle-{}", std::process::id()));
        let mut bad = Vec::new();
        for p in cases() {
            let out = Command::new("nix-instantiate")
                .args(["--eval", "--strict", "--store"])
                .arg(format!("local?root={}", tmp.join("root").display()))
                .arg(&p)
                .env("NIX_STATE_DIR", tmp.join("state"))
                .env("NIX_LOG_DIR", tmp.join("log"))
                .env("NIX_CONF_DIR", tmp.join("conf"))
                .env("HOME", &tmp)
                .output()
                .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
            let theirs = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
            let got = ours(&p, StoreHost::dry_run(nix_store_dir()));
            if !out.status.success() || got.as_deref() != Ok(theirs.as_str()) {
                bad.push(format!("{}:\n  nix  {theirs}\n  ours {got:?}", p.display()));
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    /// With a local store the `.drv` files are written, byte for byte as
    /// `nix-instantiate` writes them into its own throw-away store.
    #[test]
    fn writes_the_same_drv_files_as_nix() {
        use b8g_store::local::StoreConfig;
        let tmp = Scratch::new().expect("scratch dir");
        let config = StoreConfig {
            store_dir: nix_store_dir(),
            state_dir: PathBuf::from("/nix/var/nix"),
            root: Some(tmp.0.join("ours")),
        };
        let store = LocalStore::open(&config).expect("open a store in a temp root");
        let expr = "let a = builtins.toFile \"a.txt\" \"A\"; dep = derivation { name = \"dep\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; outputs = [ \"out\" \"dev\" ]; }; in derivation { name = \"w\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; src = a; d = dep.dev; args = [ \"-c\" \"${dep}\" ]; }";
        let drv_path = run_with_big_stack(move || {
            let mut ev = Evaluator::new(
                Box::new(StdIo),
                Box::new(StoreHost::new(nix_store_dir(), Box::new(store))),
                EvalOptions::default(),
            );
            ev.eval_str(expr, "/")
                .and_then(|v| b8g_eval::derivation_paths(&mut ev, v))
                .map_err(|e| e.to_string())
        })
        .expect("evaluation thread runs")
        .expect("evaluates");
        assert_eq!(drv_path.len(), 1);
        let ours = std::fs::read(tmp.0.join("ours").join(drv_path[0].trim_start_matches('/')))
            .expect("our .drv was written");
        let nix_root = tmp.0.join("nix");
        let out = Command::new("nix-instantiate")
            .arg("--store")
            .arg(format!("local?root={}", nix_root.display()))
            .args(["-E", expr])
            .env("NIX_STATE_DIR", tmp.0.join("state"))
            .env("NIX_LOG_DIR", tmp.0.join("log"))
            .env("NIX_CONF_DIR", tmp.0.join("conf"))
            .env("HOME", &tmp.0)
            .output()
            .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
        let theirs_path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            theirs_path,
            drv_path[0],
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = std::fs::read(nix_root.join(theirs_path.trim_start_matches('/')))
            .expect("nix wrote its .drv");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    /// A file and a gzipped tarball (one top-level directory) to fetch.
    fn fetch_fixture(dir: &Path) -> (PathBuf, PathBuf) {
        let file = dir.join("hello.txt");
        std::fs::write(&file, "hello fetch\n").expect("write fixture");
        let tgz = dir.join("pkg.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).expect("create tarball"),
            flate2::Compression::default(),
        );
        let mut b = tar::Builder::new(gz);
        for (path, body, mode) in [
            ("pkg-1.0/a", "a\n", 0o644),
            ("pkg-1.0/sub/run", "#!/bin/sh\n", 0o755),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(mode);
            h.set_cksum();
            b.append_data(&mut h, path, body.as_bytes())
                .expect("append to tarball");
        }
        b.into_inner()
            .and_then(|gz| gz.finish())
            .expect("finish tarball");
        (file, tgz)
    }

    fn eval_with(host: StoreHost, expr: String) -> Result<String, String> {
        run_with_big_stack(move || {
            let mut ev = Evaluator::new(Box::new(StdIo), Box::new(host), EvalOptions::default());
            ev.eval_str(&expr, "/")
                .and_then(|v| value_to_text(&mut ev, v, OutputMode::Strict))
                .map_err(|e| e.to_string())
        })
        .expect("evaluation thread runs")
    }

    fn fetch_exprs(file: &Path, tgz: &Path) -> String {
        format!(
            "[ (builtins.fetchurl \"file://{f}\") (builtins.fetchurl {{ url = \"file://{f}\"; name = \"x\"; sha256 = \"sha256-THNTcPvzp5sI67XvP8fTqR4CBhgdaulO5P5aiIgqTx0=\"; }}) (builtins.fetchTarball \"file://{t}\") (builtins.fetchTarball {{ url = \"file://{t}\"; name = \"pkg\"; }}) ]",
            f = file.display(),
            t = tgz.display()
        )
    }

    /// fetchurl/fetchTarball of file:// URLs give Nix's store paths, in a dry
    /// run and when writing into a store (where the content must land).
    #[test]
    fn fetchers_give_nixs_store_paths() {
        use b8g_store::local::StoreConfig;
        let tmp = Scratch::new().expect("scratch dir");
        let (file, tgz) = fetch_fixture(&tmp.0);
        let expr = fetch_exprs(&file, &tgz);
        let dry = eval_with(StoreHost::dry_run(nix_store_dir()), expr.clone()).expect("dry run");
        let config = StoreConfig {
            store_dir: nix_store_dir(),
            state_dir: PathBuf::from("/nix/var/nix"),
            root: Some(tmp.0.join("ours")),
        };
        let store = LocalStore::open(&config).expect("open a store in a temp root");
        let host = StoreHost::new(nix_store_dir(), Box::new(store));
        let written = eval_with(host, expr.clone()).expect("evaluates with a store");
        assert_eq!(dry, written);
        let paths: Vec<&str> = written
            .trim_matches(|c| c == '[' || c == ']' || c == ' ')
            .split_whitespace()
            .map(|p| p.trim_matches('"'))
            .collect();
        assert_eq!(paths.len(), 4, "{written}");
        let real = |p: &str| tmp.0.join("ours").join(p.trim_start_matches('/'));
        assert_eq!(
            std::fs::read_to_string(real(paths[0])).expect("fetched file in the store"),
            "hello fetch\n"
        );
        assert!(real(paths[2]).join("sub/run").exists(), "tarball unpacked");
        let nix_root = tmp.0.join("nix");
        let out = Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--store"])
            .arg(format!("local?root={}", nix_root.display()))
            .args(["-E", &expr])
            .env("NIX_STATE_DIR", tmp.0.join("state"))
            .env("NIX_LOG_DIR", tmp.0.join("log"))
            .env("NIX_CONF_DIR", tmp.0.join("conf"))
            .env("XDG_CACHE_HOME", tmp.0.join("cache"))
            .env("HOME", &tmp.0)
            .output()
            .expect("nix-instantiate must be installed (apt package nix-bin) for this test");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            dry,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A wrong declared hash fails with both hashes, as Nix prints them.
    #[test]
    fn fetch_hash_mismatch_names_both_hashes() {
        let tmp = Scratch::new().expect("scratch dir");
        let (file, tgz) = fetch_fixture(&tmp.0);
        let zero = "0000000000000000000000000000000000000000000000000000";
        let e = eval_with(
            StoreHost::dry_run(nix_store_dir()),
            format!(
                "builtins.fetchurl {{ url = \"file://{}\"; sha256 = \"{zero}\"; }}",
                file.display()
            ),
        )
        .expect_err("the hash is wrong");
        assert!(
            e.contains(&format!(
                "hash mismatch in file downloaded from 'file://{}':",
                file.display()
            )) && e.contains(&format!("specified: sha256:{zero}"))
                && e.contains(
                    "got:       sha256:07ag5a48hnpywi7fjshx303047m9sg3kzvxmxc49p9zkzdq56wsc"
                ),
            "{e}"
        );
        let e = eval_with(
            StoreHost::dry_run(nix_store_dir()),
            format!(
                "builtins.fetchTarball {{ url = \"file://{}\"; sha256 = \"sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"; }}",
                tgz.display()
            ),
        )
        .expect_err("the hash is wrong");
        assert!(
            e.contains("hash mismatch") && e.contains("got:       sha256:"),
            "{e}"
        );
        let e = eval_with(
            StoreHost::dry_run(nix_store_dir()),
            format!("builtins.fetchurl \"file://{}/missing\"", tmp.0.display()),
        )
        .expect_err("no such file");
        assert!(e.contains("unable to download"), "{e}");
        let e = eval_with(
            StoreHost::dry_run(nix_store_dir()),
            "builtins.fetchurl { url = \"file:///x\"; hash = \"\"; }".to_string(),
        )
        .expect_err("hash is not an argument of fetchurl in Nix 2.8");
        assert!(
            e.contains("unsupported argument 'hash' to 'fetchurl'"),
            "{e}"
        );
    }
}
