//! [`StoreHost`]: the evaluator's host, and the store work of the builtins
//! glue registers. With a [`GlueStore`] it writes; without one (a dry run)
//! it computes the same paths and writes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use b8g_eval::{EvalHost, HostError};
use b8g_store::format::derivation::{Derivation, Output};
use b8g_store::format::hash::{Encoding, Hash, HashAlgo};
use b8g_store::format::store_path::{FileIngestionMethod, StoreDir, StorePath};

use super::git::GitInput;
use super::trees::FetchedTree;
use super::{fetch, GlueError, GlueStore};

/// How a fixed output or an added path is hashed, and the hash it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FixedOutput {
    pub method: FileIngestionMethod,
    pub hash: Hash,
}

/// A derivation as `derivationStrict` assembles it, before output paths
/// are known; [`StoreHost::write_derivation`] fills them in.
#[derive(Debug, Clone, Default)]
pub(crate) struct DrvSpec {
    pub name: String,
    /// Output names in the order given by `outputs`.
    pub outputs: Vec<String>,
    pub fixed: Option<FixedOutput>,
    /// Input derivation path → wanted outputs.
    pub input_drvs: BTreeMap<String, BTreeSet<String>>,
    /// Input sources; `=drv` entries bring a derivation's whole closure.
    pub input_srcs: BTreeSet<String>,
    pub platform: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// The written derivation: its path and each output's path.
#[derive(Debug, Clone)]
pub(crate) struct DrvOut {
    pub drv_path: String,
    pub outputs: BTreeMap<String, String>,
}

/// A download asked for by `builtins.fetchurl` or `builtins.fetchTarball`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FetchRequest {
    /// `file://`, `http://` or `https://`.
    pub url: String,
    /// The name of the store path.
    pub name: String,
    /// Unpack a tarball and add its single top-level entry (hashed as a NAR)
    /// rather than the downloaded file (hashed flat).
    pub unpack: bool,
    /// The declared hash; fetched content that does not match is an error.
    pub expected: Option<FixedOutput>,
}

/// A fetch remembered by [`StoreHost`]: (store path, declared hash, SHA-256
/// of the content: flat, or of the NAR when unpacked).
type Fetched = (String, Option<FixedOutput>, Hash);

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
    /// Fetched in this session: (url, name, unpack) → (store path, declared
    /// hash, SHA-256 of the content: flat, or of the NAR when unpacked).
    fetched: HashMap<(String, String, bool), Fetched>,
    /// Git trees fetched in this session, by input and name.
    pub(crate) git_trees: HashMap<(GitInput, String), FetchedTree>,
    /// `fetchTree { type = "path"; }` results, by path.
    pub(crate) path_trees: HashMap<String, FetchedTree>,
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
            git_trees: HashMap::new(),
            path_trees: HashMap::new(),
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
            git_trees: HashMap::new(),
            path_trees: HashMap::new(),
        }
    }

    /// The store written to; `None` in a dry run.
    pub(crate) fn store(&self) -> Option<&dyn GlueStore> {
        self.store.as_deref()
    }

    /// The store directory paths are computed for.
    pub(crate) fn store_directory(&self) -> &StoreDir {
        &self.store_dir
    }

    /// A derivation made in this session, by its `.drv` path.
    pub fn derivation(&self, drv_path: &str) -> Option<&Derivation> {
        self.drvs.get(drv_path)
    }

    fn parse(&self, p: &str) -> Result<StorePath, GlueError> {
        Ok(self.store_dir.parse_path(p)?)
    }

    fn load_drv(&mut self, path: &str) -> Result<Derivation, GlueError> {
        if let Some(d) = self.drvs.get(path) {
            return Ok(d.clone());
        }
        let real: PathBuf = match &self.store {
            Some(s) => s.real_path(path),
            None => PathBuf::from(path),
        };
        let bytes = std::fs::read(&real).map_err(|source| GlueError::ReadDrv {
            path: path.to_owned(),
            source,
        })?;
        let d = Derivation::parse(&bytes).map_err(|source| GlueError::ParseDrv {
            path: path.to_owned(),
            source,
        })?;
        self.drvs.insert(path.to_string(), d.clone());
        Ok(d)
    }

    /// hashDerivationModulo of an input derivation (outputs not masked).
    fn modulo_of(&mut self, path: &str) -> Result<[u8; 32], GlueError> {
        if let Some(h) = self.modulo.get(path) {
            return Ok(*h);
        }
        let drv = self.load_drv(path)?;
        let h = drv.hash_modulo(false, &mut |p: &str| self.modulo_of(p))?;
        self.modulo.insert(path.to_string(), h);
        Ok(h)
    }

    fn references(&mut self, path: &str) -> Result<BTreeSet<String>, GlueError> {
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

    fn closure(&mut self, start: &str) -> Result<BTreeSet<String>, GlueError> {
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

/// Copies `src` to `dst` (which must not exist), of a directory only the entries
/// below it that `keep` lists; the root itself is always copied, as Nix's filter
/// is never asked about it.
fn copy_filtered(src: &Path, dst: &Path, keep: &HashSet<String>) -> std::io::Result<()> {
    let ft = std::fs::symlink_metadata(src)?.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)
    } else if ft.is_dir() {
        std::fs::create_dir(dst)?;
        for e in std::fs::read_dir(src)? {
            let from = e?.path();
            if keep.contains(from.to_string_lossy().as_ref()) {
                copy_filtered(&from, &dst.join(from.file_name().unwrap_or_default()), keep)?;
            }
        }
        Ok(())
    } else {
        std::fs::copy(src, dst).map(drop)
    }
}

/// A private scratch directory (a new one, mode 0700, under a random name, so
/// nobody else sharing the temporary directory can plant or read it), removed
/// on drop.
pub(crate) struct Scratch(
    pub(crate) PathBuf,
    // Held for its drop, which removes the directory.
    #[allow(dead_code)] tempfile::TempDir,
);

impl Scratch {
    pub(crate) fn new() -> std::io::Result<Scratch> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("b8g-glue-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        Ok(Scratch(dir.path().to_path_buf(), dir))
    }
}

impl EvalHost for StoreHost {
    fn store_dir(&self) -> String {
        self.store_dir.as_str().to_string()
    }

    fn copy_path(&mut self, path: &str, name: &str) -> Result<String, HostError> {
        self.add_path(path, name, true, None, None)
            .map_err(|e| HostError(Box::new(e)))
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The store work of the builtins in [`super::builtins`].
impl StoreHost {
    /// Copies `path` into the store under `name`; `filter` holds the paths
    /// (absolute, below `path`) to keep, `None` for all; `expected` is the
    /// SHA-256 the content must have. Returns the store path.
    pub(crate) fn add_path(
        &mut self,
        path: &str,
        name: &str,
        recursive: bool,
        filter: Option<&HashSet<String>>,
        expected: Option<&Hash>,
    ) -> Result<String, GlueError> {
        let key = (path.to_string(), name.to_string(), recursive);
        if filter.is_none() {
            if let Some(p) = self.sources.get(&key) {
                return Ok(p.clone());
            }
        }
        let src = PathBuf::from(path);
        let (method, hash) = if recursive {
            // A filtered tree is hashed in place: a copy is made only to add it.
            let kept =
                |p: &Path| filter.is_none_or(|keep| keep.contains(p.to_string_lossy().as_ref()));
            let (h, _) = b8g_store::nar_fs::hash_path_filtered(&src, HashAlgo::Sha256, &kept)
                .map_err(|source| GlueError::HashPath {
                    path: path.to_owned(),
                    source,
                })?;
            (FileIngestionMethod::Recursive, h)
        } else {
            // What the store would add: the bytes of a regular file (through links).
            let regular = std::fs::metadata(&src)
                .map_err(|e| GlueError::io("reading", path, e))?
                .is_file();
            if !regular {
                return Err(GlueError::NotRegular(path.to_owned()));
            }
            let bytes = std::fs::read(&src).map_err(|e| GlueError::io("reading", path, e))?;
            (FileIngestionMethod::Flat, HashAlgo::Sha256.digest(&bytes))
        };
        if let Some(want) = expected {
            if hash != *want {
                return Err(GlueError::HashMismatch {
                    path: path.to_owned(),
                    specified: want.to_typed(Encoding::Base16),
                    got: hash.to_typed(Encoding::Base16),
                });
            }
        }
        let full = match &self.store {
            Some(s) => match s.valid_fixed_source(name, method, &hash)? {
                Some(held) => held,
                None => {
                    let added = if let (true, Some(keep)) = (recursive, filter) {
                        let scratch = Scratch::new().map_err(|e| {
                            GlueError::io("creating a scratch directory for", path, e)
                        })?;
                        let dst = scratch.0.join("tree");
                        copy_filtered(&src, &dst, keep)
                            .map_err(|e| GlueError::io("copying", path, e))?;
                        s.add_recursive(&dst, name)?
                    } else if recursive {
                        s.add_recursive(&src, name)?
                    } else {
                        s.add_flat(&src, name)?
                    };
                    // A pinned hash names the content that was checked: what
                    // went in must be that content (the source may have changed).
                    if expected.is_some() {
                        let want =
                            self.store_dir
                                .make_fixed_output_path(name, method, &hash, &[])?;
                        if added != self.store_dir.display(&want) {
                            return Err(GlueError::PathMismatch(path.to_owned()));
                        }
                    }
                    added
                }
            },
            None => {
                let sp = self
                    .store_dir
                    .make_fixed_output_path(name, method, &hash, &[])?;
                self.store_dir.display(&sp)
            }
        };
        if filter.is_none() {
            self.sources.insert(key, full.clone());
        }
        Ok(full)
    }

    /// `builtins.toFile`: a text file with the given references.
    pub(crate) fn add_text(
        &mut self,
        name: &str,
        text: &str,
        refs: &BTreeSet<String>,
    ) -> Result<String, GlueError> {
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
                let sp = self.store_dir.make_text_path(
                    name,
                    &HashAlgo::Sha256.digest(text.as_bytes()),
                    &parsed,
                )?;
                self.store_dir.display(&sp)
            }
        };
        self.text_refs.insert(full.clone(), refs.clone());
        Ok(full)
    }

    /// Computes the output paths (hashDerivationModulo) and writes the `.drv`.
    pub(crate) fn write_derivation(&mut self, spec: DrvSpec) -> Result<DrvOut, GlueError> {
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
                        hash_algo: format!(
                            "{}{}",
                            if f.method == FileIngestionMethod::Recursive {
                                "r:"
                            } else {
                                ""
                            },
                            f.hash.algo().name()
                        ),
                        hash: f.hash.to_base16(),
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
            let (method, hash) = drv.fixed_hash("out")?.ok_or(GlueError::NoFixedHash)?;
            let p = store_dir.make_fixed_output_path(&name, method, &hash, &[])?;
            let full = store_dir.display(&p);
            if let Some(o) = drv.outputs.get_mut("out") {
                o.path = full.clone();
            }
            drv.env.insert("out".into(), full);
        } else {
            let modulo = drv.hash_modulo(true, &mut |p: &str| self.modulo_of(p))?;
            let modulo = Hash::from_digest(HashAlgo::Sha256, &modulo)?;
            for (out, o) in drv.outputs.iter_mut() {
                let p = store_dir.make_output_path(&modulo, out, &name)?;
                o.path = store_dir.display(&p);
                drv.env.insert(out.clone(), o.path.clone());
            }
        }
        let mut refs = Vec::new();
        for p in drv.input_srcs.iter().chain(drv.input_drvs.keys()) {
            refs.push(self.parse(p)?);
        }
        let text_hash = HashAlgo::Sha256.digest(drv.to_aterm().as_bytes());
        let drv_path = store_dir.make_text_path(&format!("{name}.drv"), &text_hash, &refs)?;
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
                return Err(GlueError::StoreDisagrees {
                    written,
                    expected: full,
                });
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

    /// The store path of a fixed-output content.
    pub(crate) fn fixed_output_path(
        &self,
        name: &str,
        fixed: &FixedOutput,
    ) -> Result<String, GlueError> {
        let sp = self
            .store_dir
            .make_fixed_output_path(name, fixed.method, &fixed.hash, &[])?;
        Ok(self.store_dir.display(&sp))
    }

    /// Fetches at evaluation time, checks the hash, adds the result to the
    /// store (a dry run only computes its path) and returns its store path.
    pub(crate) fn fetch(&mut self, req: &FetchRequest) -> Result<String, GlueError> {
        Ok(self.fetch_hashed(req)?.0)
    }

    /// [`StoreHost::fetch`], with the SHA-256 of the content (flat, or of the
    /// NAR when unpacked).
    pub(crate) fn fetch_hashed(&mut self, req: &FetchRequest) -> Result<(String, Hash), GlueError> {
        let key = (req.url.clone(), req.name.clone(), req.unpack);
        if let Some((p, expected, sha)) = self.fetched.get(&key) {
            if req.expected.is_none() || *expected == req.expected {
                return Ok((p.clone(), *sha));
            }
        }
        // Like Nix, skip the download when the declared content is already in the store.
        if let (Some(want), Some(store)) = (&req.expected, &self.store) {
            let path = self.fixed_output_path(&req.name, want)?;
            if want.hash.algo() == HashAlgo::Sha256 && store.is_valid(&path)? {
                self.fetched
                    .insert(key, (path.clone(), req.expected.clone(), want.hash));
                return Ok((path, want.hash));
            }
        }
        let scratch = Scratch::new()
            .map_err(|e| GlueError::io("creating a scratch directory for", &req.url, e))?;
        let file = scratch.0.join("download");
        fetch::download(&req.url, &file)?;
        let content = if req.unpack {
            fetch::unpack_tarball(&req.url, &file, &scratch.0.join("unpacked"))?
        } else {
            file
        };
        let hash = fetch::check(&req.url, &content, req.unpack, req.expected.as_ref())?;
        let sha = if hash.algo() == HashAlgo::Sha256 {
            hash
        } else {
            fetch::hash_fetched(&content, req.unpack, HashAlgo::Sha256)?
        };
        let path = match &self.store {
            Some(s) if req.unpack => s.add_recursive(&content, &req.name)?,
            Some(s) => s.add_flat(&content, &req.name)?,
            None => {
                // A dry run computes the path Nix would give, from a SHA-256 of the content.
                let method = if req.unpack {
                    FileIngestionMethod::Recursive
                } else {
                    FileIngestionMethod::Flat
                };
                let sp = self
                    .store_dir
                    .make_fixed_output_path(&req.name, method, &sha, &[])?;
                self.store_dir.display(&sp)
            }
        };
        self.fetched
            .insert(key, (path.clone(), req.expected.clone(), sha));
        Ok((path, sha))
    }
}
