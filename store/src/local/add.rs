//! Adding objects to the store: trees and files by content (recursive and
//! flat), text objects, NAR imports, and registering outputs built in place.
//!
//! Every addition goes the same way: the content is written under a temporary
//! name inside the store directory (same file system, so the final rename is
//! atomic) and made canonical; then, holding the path's lock, it is renamed to
//! its final name, its files and the store directory are flushed to disk
//! together, and ONE database transaction registers it with its references. A crash before the commit
//! leaves only an unregistered name that GC or `verify --repair` removes; a
//! crash after it leaves a complete valid path. The whole addition holds the
//! GC lock shared, and the new path becomes a temporary root before the GC
//! lock is released, so a GC cannot remove it under the caller's feet.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{io_err, Error};
use super::fsutil::{canonicalise, canonicalise_tree, list_for_sync, remove_tree, sync_all};
use super::lock::GcLock;
use super::refs::RefScanner;
use super::{now, LocalStore, PathInfo};
use crate::bounded::BoundedReader;
use crate::format::hash::{Encoding, Hash, HashAlgo, HashSink};
use crate::format::store_path::{FileIngestionMethod, StorePath};
use crate::nar_fs::{self, RestoreOptions};

/// What an imported NAR must match (a substitute's narinfo, say).
#[derive(Debug, Clone)]
pub struct NarExpectation {
    pub path: StorePath,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub signatures: Vec<String>,
    pub ca: Option<String>,
}

/// Built outputs made canonical, hashed and scanned, not yet durable nor
/// valid ([`LocalStore::prepare_build_outputs`]). Holds the GC lock shared
/// until committed or dropped.
#[derive(Debug)]
pub struct BuiltPaths {
    infos: Vec<PathInfo>,
    to_sync: Vec<PathBuf>,
    drv_outputs: Option<(StorePath, Vec<(String, StorePath)>)>,
    _gc: GcLock,
}

impl BuiltPaths {
    /// The metadata the outputs will be registered with (references found).
    /// Registers the outputs without recording the derivation's output
    /// mapping: for a derivation not read from this store (a serve client's
    /// `BuildDerivation`), whose sent contents may differ from a valid
    /// `.drv` of the same path.
    pub fn without_mapping(mut self) -> BuiltPaths {
        self.drv_outputs = None;
        self
    }

    pub fn infos(&self) -> &[PathInfo] {
        &self.infos
    }
}

/// A `Write` that sends everything to two sinks.
struct Tee<A, B>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.write_all(&buf[..n])?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// A `Read` that hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    sink: HashSink,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes the NAR serialisation of `path` to `out`.
pub(crate) fn dump(path: &Path, out: &mut dyn Write) -> Result<(), Error> {
    nar_fs::dump_path(path, out)
        .map(drop)
        .map_err(|e| Error::Dump {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// The NAR hash (sha256) and size of the tree at `path`.
pub(crate) fn nar_hash_of(path: &Path) -> Result<(Hash, u64), Error> {
    nar_fs::hash_path(path, HashAlgo::Sha256).map_err(|e| Error::Dump {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Like [`nar_hash_of`], hashing on the calling thread. Cheaper when many
/// small paths are hashed in parallel anyway (verify): no thread per path.
pub(crate) fn nar_hash_inline(path: &Path) -> Result<(Hash, u64), Error> {
    let sink = io::BufWriter::with_capacity(1 << 16, HashSink::new(HashAlgo::Sha256));
    let sink = nar_fs::dump_path(path, sink).map_err(|e| Error::Dump {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let sink = sink
        .into_inner()
        .map_err(|e| io_err("hash", path)(e.into_error()))?;
    Ok(sink.finish())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name in the store directory, removed on drop unless renamed.
pub(super) struct TempEntry {
    pub(super) path: PathBuf,
    pub(super) armed: bool,
}

impl TempEntry {
    pub(super) fn new(store: &LocalStore) -> Self {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = store
            .real_store
            .join(format!(".tmp-b8g-{}-{n}", std::process::id()));
        TempEntry { path, armed: true }
    }
}

impl Drop for TempEntry {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove_tree(&self.path) {
                tracing::warn!("cannot remove temporary {}: {e}", self.path.display());
            }
        }
    }
}

impl LocalStore {
    /// Copies `src` into a temporary entry through a NAR stream (so exactly
    /// what NAR can express is copied), returning the NAR hash and size.
    fn copy_in(&self, src: &Path, temp: &TempEntry) -> Result<(Hash, u64), Error> {
        let (reader, writer) =
            rustix::pipe::pipe().map_err(|e| io_err("create pipe for", src)(e.into()))?;
        let mut reader = File::from(reader);
        let writer = File::from(writer);
        let src_owned = src.to_owned();
        std::thread::scope(|scope| {
            let dumper = scope.spawn(move || -> Result<(Hash, u64), Error> {
                let mut tee = Tee(
                    io::BufWriter::with_capacity(1 << 16, writer),
                    HashSink::new(HashAlgo::Sha256),
                );
                dump(&src_owned, &mut tee)?;
                tee.flush().map_err(io_err("copy", &src_owned))?;
                let Tee(w, sink) = tee;
                drop(w);
                Ok(sink.finish())
            });
            let restored = self.restore_into(&mut reader, &temp.path, &RestoreOptions::default());
            // Unblock the dumper if the restore stopped early.
            drop(reader);
            let dumped = dumper.join().map_err(|_| Error::Dump {
                path: src.to_owned(),
                reason: "dump thread panicked".into(),
            })?;
            // A dump failure explains a truncated restore better than the restore's own error.
            let hash = dumped?;
            restored?;
            Ok(hash)
        })
    }

    fn restore_into(
        &self,
        reader: &mut dyn Read,
        target: &Path,
        options: &RestoreOptions,
    ) -> Result<(), Error> {
        nar_fs::restore_with(reader, target, options).map_err(|e| Error::Restore {
            target: target.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Moves a complete, canonical temporary entry to `path`, flushes it and
    /// registers it, unless `path` is valid already (then the temporary is
    /// dropped). The caller holds the GC lock shared.
    fn install(
        &self,
        temp: &mut TempEntry,
        info: PathInfo,
        gc: &GcLock,
    ) -> Result<StorePath, Error> {
        let _lock = self.lock_path(&info.path)?;
        self.install_locked(temp, info, gc)
    }

    /// [`install`](Self::install) when the caller holds the path's lock.
    fn install_locked(
        &self,
        temp: &mut TempEntry,
        info: PathInfo,
        _gc: &GcLock,
    ) -> Result<StorePath, Error> {
        let path = info.path.clone();
        self.add_temp_root_locked(&path)?;
        if self.is_valid(&path)? {
            tracing::debug!(path = %self.print_path(&path), "already valid");
            return Ok(path);
        }
        let real = self.real_path(&path);
        // A leftover of an earlier crash or of a GC that was interrupted.
        remove_tree(&real)?;
        fs::rename(&temp.path, &real).map_err(io_err("move into place", &real))?;
        temp.armed = false;
        // The tree and its new name in the store directory are flushed after
        // the rename, all at once (one journal commit instead of two in a
        // row), and before the commit: until then the name is an unregistered
        // leftover like any other (removed above on the next attempt, or by GC).
        let mut to_sync = Vec::new();
        let synced = list_for_sync(&real, &mut to_sync).and_then(|()| {
            to_sync.push(self.real_store.clone());
            sync_all(&to_sync)
        });
        if let Err(e) = synced {
            if let Err(rm) = remove_tree(&real) {
                tracing::warn!("cannot remove unregistered {}: {rm}", real.display());
            }
            return Err(e);
        }
        if let Err(e) = self.register(&[info]) {
            // Not registered (say, a reference is not valid): do not leave it behind.
            if let Err(rm) = remove_tree(&real) {
                tracing::warn!("cannot remove unregistered {}: {rm}", real.display());
            }
            return Err(e);
        }
        tracing::debug!(path = %self.print_path(&path), "added");
        Ok(path)
    }

    /// The path that adding content with this `method` and sha256 `hash`
    /// under `name` gives, if that path is valid already. It is then a
    /// temporary root of this process, so the caller may use it without
    /// copying the content in again (as Nix's `addToStore` does for a source
    /// it holds): evaluation hashes every source it names on every run, and
    /// copying an unchanged tree into a temporary entry, flushing it to disk
    /// and throwing it away cost far more than that hashing.
    pub fn valid_fixed_source(
        &self,
        name: &str,
        method: FileIngestionMethod,
        hash: &Hash,
    ) -> Result<Option<StorePath>, Error> {
        let path = self
            .store_dir
            .make_fixed_output_path(name, method, hash, &[])?;
        let _gc = self.lock_gc_shared()?;
        self.add_temp_root_locked(&path)?;
        Ok(self.is_valid(&path)?.then_some(path))
    }

    /// Adds the tree at `src` by its NAR hash (`nix-store --add`,
    /// `--add-fixed --recursive sha256`): a `source` path without references.
    pub fn add_recursive(&self, src: &Path, name: &str) -> Result<StorePath, Error> {
        let gc = self.lock_gc_shared()?;
        let temp = TempEntry::new(self);
        let (nar_hash, nar_size) = self.copy_in(src, &temp)?;
        self.install_source(temp, gc, nar_hash, nar_size, name)
    }

    /// Adds the regular file `src` by the sha256 of its bytes
    /// (`nix-store --add-fixed sha256`).
    pub fn add_flat(&self, src: &Path, name: &str) -> Result<StorePath, Error> {
        let meta = fs::metadata(src).map_err(io_err("stat", src))?;
        if !meta.is_file() {
            return Err(Error::BadSource {
                path: src.to_owned(),
                reason: "flat addition needs a regular file".into(),
            });
        }
        let gc = self.lock_gc_shared()?;
        let mut temp = TempEntry::new(self);
        // The bytes only, as Nix stores a flat file: a regular, non-executable
        // file, whatever the source's mode or the links that lead to it. Not
        // blocking on open, and checked again once open, in case `src` was
        // swapped for a pipe meanwhile.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut from = fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(src)
                .map_err(io_err("open", src))?;
            if !from.metadata().map_err(io_err("stat", src))?.is_file() {
                return Err(Error::BadSource {
                    path: src.to_owned(),
                    reason: "flat addition needs a regular file".into(),
                });
            }
            let mut to = File::create(&temp.path).map_err(io_err("create", &temp.path))?;
            io::copy(&mut from, &mut to).map_err(io_err("copy", src))?;
        }
        canonicalise_tree(&temp.path)?;
        let (nar_hash, nar_size) =
            nar_fs::hash_path(&temp.path, HashAlgo::Sha256).map_err(|e| Error::Dump {
                path: temp.path.clone(),
                reason: e.to_string(),
            })?;
        // Hash the copy, not the source, so the path names exactly what we store.
        let mut file = File::open(&temp.path).map_err(io_err("open", &temp.path))?;
        let mut sink = HashSink::new(HashAlgo::Sha256);
        io::copy(&mut file, &mut sink).map_err(io_err("read", &temp.path))?;
        let (flat_hash, _) = sink.finish();
        let path = self.store_dir.make_fixed_output_path(
            name,
            FileIngestionMethod::Flat,
            &flat_hash,
            &[],
        )?;
        let info = PathInfo {
            path,
            nar_hash,
            nar_size,
            references: BTreeSet::new(),
            deriver: None,
            registration_time: now(),
            signatures: Vec::new(),
            ca: Some(format!("fixed:{}", flat_hash.to_typed(Encoding::Nix32))),
        };
        self.install(&mut temp, info, &gc)
    }

    /// Adds a text object (`builtins.toFile`, `.drv` files) with the given
    /// references, which must be valid.
    pub fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[StorePath],
    ) -> Result<StorePath, Error> {
        let hash = HashAlgo::Sha256.digest(contents);
        let path = self.store_dir.make_text_path(name, &hash, references)?;
        let gc = self.lock_gc_shared()?;
        if self.is_valid(&path)? {
            self.add_temp_root_locked(&path)?;
            return Ok(path);
        }
        let mut temp = TempEntry::new(self);
        fs::write(&temp.path, contents).map_err(io_err("write", &temp.path))?;
        canonicalise_tree(&temp.path)?;
        let (nar_hash, nar_size) = nar_hash_of(&temp.path)?;
        let info = PathInfo {
            path,
            nar_hash,
            nar_size,
            references: references.iter().cloned().collect(),
            deriver: None,
            registration_time: now(),
            signatures: Vec::new(),
            ca: Some(format!("text:{}", hash.to_typed(Encoding::Nix32))),
        };
        self.install(&mut temp, info, &gc)
    }

    /// Unpacks a NAR from `reader` into a temporary entry, returning its hash and size.
    /// A malformed NAR fails here, and the temporary is removed.
    pub(super) fn unpack_nar(
        &self,
        reader: &mut dyn Read,
        temp: &TempEntry,
        options: &RestoreOptions,
    ) -> Result<(Hash, u64), Error> {
        let mut hashing = HashingReader {
            inner: reader,
            sink: HashSink::new(HashAlgo::Sha256),
        };
        self.restore_into(&mut hashing, &temp.path, options)?;
        Ok(hashing.sink.finish())
    }

    /// Registers a tree unpacked into `temp` as a `source` path (recursive
    /// sha256, no references) named `name`.
    fn install_source(
        &self,
        mut temp: TempEntry,
        gc: GcLock,
        nar_hash: Hash,
        nar_size: u64,
        name: &str,
    ) -> Result<StorePath, Error> {
        canonicalise_tree(&temp.path)?;
        let path = self.store_dir.make_fixed_output_path(
            name,
            FileIngestionMethod::Recursive,
            &nar_hash,
            &[],
        )?;
        let info = PathInfo {
            path,
            nar_hash,
            nar_size,
            references: BTreeSet::new(),
            deriver: None,
            registration_time: now(),
            signatures: Vec::new(),
            ca: Some(format!("fixed:r:{}", nar_hash.to_typed(Encoding::Nix32))),
        };
        self.install(&mut temp, info, &gc)
    }

    /// Imports a NAR stream as a content-addressed (recursive sha256) path named `name`.
    pub fn add_nar(&self, reader: &mut dyn Read, name: &str) -> Result<StorePath, Error> {
        let gc = self.lock_gc_shared()?;
        let temp = TempEntry::new(self);
        let (nar_hash, nar_size) = self.unpack_nar(reader, &temp, &RestoreOptions::default())?;
        self.install_source(temp, gc, nar_hash, nar_size, name)
    }

    /// Imports a NAR whose path and metadata are known in advance (a
    /// substitute). The NAR must match `expected`'s hash and size, and its
    /// references must be valid already.
    pub fn import_nar(
        &self,
        reader: &mut dyn Read,
        expected: NarExpectation,
    ) -> Result<StorePath, Error> {
        self.import_expected(reader, expected, None)
    }

    /// [`import_nar`](Self::import_nar) for a caller that holds the path's
    /// lock already (a build job fetching its outputs from a remote builder).
    /// The tree is also scanned for the hash parts of `candidates` (the
    /// build's inputs and outputs): one it holds but `expected` does not
    /// declare is refused, since GC would not keep it alive.
    pub fn import_nar_locked(
        &self,
        reader: &mut dyn Read,
        expected: NarExpectation,
        candidates: &BTreeSet<StorePath>,
    ) -> Result<StorePath, Error> {
        self.import_expected(reader, expected, Some(candidates))
    }

    /// With `scan` the caller holds the path's lock, and the tree must not
    /// refer to candidates it does not declare.
    fn import_expected(
        &self,
        reader: &mut dyn Read,
        expected: NarExpectation,
        scan: Option<&BTreeSet<StorePath>>,
    ) -> Result<StorePath, Error> {
        let gc = self.lock_gc_shared()?;
        if self.is_valid(&expected.path)? {
            self.add_temp_root_locked(&expected.path)?;
            return Ok(expected.path);
        }
        let (mut temp, info) =
            self.unpack_expected(reader, expected, &RestoreOptions::default())?;
        canonicalise_tree(&temp.path)?;
        match scan {
            Some(candidates) => {
                let found = self.scan_references(&temp.path, candidates)?;
                if let Some(hidden) = found.difference(&info.references).next() {
                    return Err(Error::Refused {
                        path: self.print_path(&info.path),
                        reason: format!(
                            "it refers to {} without declaring it",
                            self.print_path(hidden)
                        ),
                    });
                }
                self.install_locked(&mut temp, info, &gc)
            }
            None => self.install(&mut temp, info, &gc),
        }
    }

    /// Unpacks a NAR into a temporary entry (writing files as `options`
    /// say) and checks its size and hash against `expected`; returns the
    /// entry and the path's metadata. The tree is neither made canonical nor
    /// flushed yet.
    pub(super) fn unpack_expected(
        &self,
        reader: &mut dyn Read,
        expected: NarExpectation,
        options: &RestoreOptions,
    ) -> Result<(TempEntry, PathInfo), Error> {
        let shown = self.print_path(&expected.path);
        for sig in &expected.signatures {
            super::ca_check::check_signature(&shown, sig)?;
        }
        if let Some(ca) = &expected.ca {
            // Before any byte is read: a malformed address fails at once.
            super::local_ca_parse(&shown, ca)?;
        }
        let temp = TempEntry::new(self);
        // The NAR may hold no more than the signed NarSize: a stream that
        // goes on (a decompression bomb) stops there, before it can write
        // more than that into the store.
        let mut bounded = BoundedReader::new(reader, expected.nar_size, "NAR");
        let unpacked = self.unpack_nar(&mut bounded, &temp, options);
        if bounded.exceeded() {
            // `temp` is removed when dropped here.
            return Err(Error::Mismatch {
                path: shown,
                what: "size",
                expected: expected.nar_size.to_string(),
                actual: format!("more than {}", expected.nar_size),
            });
        }
        let (nar_hash, nar_size) = unpacked?;
        if nar_size != expected.nar_size {
            return Err(Error::Mismatch {
                path: shown,
                what: "size",
                expected: expected.nar_size.to_string(),
                actual: nar_size.to_string(),
            });
        }
        if nar_hash != expected.nar_hash {
            return Err(Error::Mismatch {
                path: shown,
                what: "hash",
                expected: expected.nar_hash.to_sri(),
                actual: nar_hash.to_sri(),
            });
        }
        if let Some(ca) = &expected.ca {
            super::ca_check::check_content_address(
                &self.store_dir,
                &expected.path,
                ca,
                &temp.path,
                &nar_hash,
                &expected.references,
            )?;
        }
        let info = PathInfo {
            path: expected.path,
            nar_hash,
            nar_size,
            references: expected.references,
            deriver: expected.deriver,
            registration_time: now(),
            signatures: expected.signatures,
            ca: expected.ca,
        };
        Ok((temp, info))
    }

    /// Registers `path`, built in place at its final location by a builder
    /// that holds its path lock (see [`lock_path`](Self::lock_path)). The tree
    /// is made canonical and durable, its references found by scanning for
    /// the hash parts of `candidates` (the build's input closure and its own
    /// outputs; a self-reference is kept), and it is registered.
    pub fn register_built_path(
        &self,
        path: &StorePath,
        candidates: &BTreeSet<StorePath>,
        deriver: Option<&StorePath>,
    ) -> Result<PathInfo, Error> {
        let mut infos =
            self.register_built_paths(std::slice::from_ref(path), candidates, deriver)?;
        Ok(infos.pop().expect("one path in, one info out"))
    }

    /// Like [`register_built_path`](Self::register_built_path) for all the
    /// outputs of one build at once, in ONE transaction, so outputs may refer
    /// to each other (even in a cycle) and either all or none become valid.
    pub fn register_built_paths(
        &self,
        paths: &[StorePath],
        candidates: &BTreeSet<StorePath>,
        deriver: Option<&StorePath>,
    ) -> Result<Vec<PathInfo>, Error> {
        self.register_built(paths, candidates, deriver)
    }

    /// Registers all the outputs of derivation `drv` (built in place, as for
    /// [`register_built_paths`](Self::register_built_paths)) with `drv` as
    /// their deriver, and records `outputs` as its output mapping
    /// ([`set_derivation_outputs`](Self::set_derivation_outputs)) in the same
    /// transaction: one durable commit per build. The same as
    /// [`prepare_build_outputs`](Self::prepare_build_outputs) then
    /// [`commit_built`](Self::commit_built).
    pub fn register_build_outputs(
        &self,
        drv: &StorePath,
        outputs: &[(String, StorePath)],
        candidates: &BTreeSet<StorePath>,
    ) -> Result<Vec<PathInfo>, Error> {
        let prepared = self.prepare_build_outputs(drv, outputs, candidates)?;
        self.commit_built(prepared)
    }

    /// The first half of [`register_build_outputs`](Self::register_build_outputs):
    /// makes the outputs canonical, hashes them and finds their references,
    /// but neither flushes nor registers them. What it returns tells the
    /// references (a builder may start dependent builds on them meanwhile);
    /// [`commit_built`](Self::commit_built) makes them durable and valid.
    /// Until then they are invalid paths the caller keeps locked.
    pub fn prepare_build_outputs(
        &self,
        drv: &StorePath,
        outputs: &[(String, StorePath)],
        candidates: &BTreeSet<StorePath>,
    ) -> Result<BuiltPaths, Error> {
        let paths: Vec<StorePath> = outputs.iter().map(|(_, p)| p.clone()).collect();
        let mut prepared = self.prepare_built(&paths, candidates, Some(drv))?;
        // A derivation built for a remote client (the serve protocol's
        // `BuildDerivation`) is not in this store: its outputs record it as
        // their deriver, and there is no `.drv` row to map them from.
        if self.is_valid(drv)? {
            prepared.drv_outputs = Some((drv.clone(), outputs.to_vec()));
        }
        Ok(prepared)
    }

    fn register_built(
        &self,
        paths: &[StorePath],
        candidates: &BTreeSet<StorePath>,
        deriver: Option<&StorePath>,
    ) -> Result<Vec<PathInfo>, Error> {
        let prepared = self.prepare_built(paths, candidates, deriver)?;
        self.commit_built(prepared)
    }

    fn prepare_built(
        &self,
        paths: &[StorePath],
        candidates: &BTreeSet<StorePath>,
        deriver: Option<&StorePath>,
    ) -> Result<BuiltPaths, Error> {
        let gc = self.lock_gc_shared()?;
        let mut infos = Vec::with_capacity(paths.len());
        // Everything that must be on disk before the commit: the trees and
        // the store directory (the builder renamed them into it). Flushed
        // together in `commit_built`, so the flushes overlap.
        let mut to_sync = Vec::new();
        for path in paths {
            let real = self.real_path(path);
            canonicalise(&real, &mut to_sync)?;
            let mut tee = Tee(
                io::BufWriter::with_capacity(1 << 16, HashSink::new(HashAlgo::Sha256)),
                RefScanner::new(candidates.iter()),
            );
            dump(&real, &mut tee)?;
            tee.flush().map_err(io_err("hash", &real))?;
            let Tee(sink, scanner) = tee;
            let sink = sink
                .into_inner()
                .map_err(|e| io_err("hash", &real)(e.into_error()))?;
            let (nar_hash, nar_size) = sink.finish();
            infos.push(PathInfo {
                path: path.clone(),
                nar_hash,
                nar_size,
                references: scanner.into_found(),
                deriver: deriver.cloned(),
                registration_time: now(),
                signatures: Vec::new(),
                ca: None,
            });
            self.add_temp_root_locked(path)?;
        }
        to_sync.push(self.real_store.clone());
        Ok(BuiltPaths {
            infos,
            to_sync,
            drv_outputs: None,
            _gc: gc,
        })
    }

    /// The second half of [`register_build_outputs`](Self::register_build_outputs):
    /// flushes the prepared outputs and the store directory to disk, then
    /// registers them (and the derivation's output mapping) in one
    /// transaction. Their references must be valid by now.
    pub fn commit_built(&self, prepared: BuiltPaths) -> Result<Vec<PathInfo>, Error> {
        sync_all(&prepared.to_sync)?;
        let infos = prepared.infos;
        match &prepared.drv_outputs {
            Some((drv, outputs)) => {
                let rows: Vec<_> = infos.iter().map(|i| self.info_to_db(i)).collect();
                let outs: Vec<(String, String)> = outputs
                    .iter()
                    .map(|(n, p)| (n.clone(), self.print_path(p)))
                    .collect();
                self.db()
                    .register_with_outputs(&rows, Some((&self.print_path(drv), &outs)))?;
            }
            None => self.register(&infos)?,
        }
        Ok(infos)
    }

    /// Scans the tree at `real` for the hash parts of `candidates`.
    pub fn scan_references(
        &self,
        real: &Path,
        candidates: &BTreeSet<StorePath>,
    ) -> Result<BTreeSet<StorePath>, Error> {
        let mut scanner = io::BufWriter::with_capacity(1 << 16, RefScanner::new(candidates.iter()));
        dump(real, &mut scanner)?;
        let scanner = scanner
            .into_inner()
            .map_err(|e| io_err("scan", real)(e.into_error()))?;
        Ok(scanner.into_found())
    }
}
