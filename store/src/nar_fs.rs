//! NAR and the filesystem: serialise a tree on disk, restore a NAR to disk.
//!
//! [`dump_path`] walks a tree as Nix's `dumpPath` does (entries sorted by raw
//! bytes, `lstat` semantics, executable = the owner's x bit) and streams the
//! NAR into any writer. [`hash_path`] does the same into a hash (on a second
//! thread once the NAR is past a chunk, so reading files overlaps hashing). [`restore`] unpacks a NAR into
//! a fresh path, validating as it streams and removing what it wrote on any
//! error. Sockets, FIFOs and device nodes cannot be in a NAR: dumping one is
//! an error that names it.

use std::ffi::OsStr;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use thiserror::Error;

use crate::format::nar::{Event, NarError, NarReader, NarWriteError, NarWriter, Node};

mod hash;
pub use hash::{hash_path, hash_path_filtered};

/// Why a tree could not be serialised.
#[derive(Debug, Error)]
pub enum DumpError {
    #[error("cannot read {path:?}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot serialise {path:?}: it is a {kind}, and a NAR holds only regular files, directories and symlinks")]
    UnsupportedFileType { path: PathBuf, kind: &'static str },
    #[error("file {path:?} changed while it was being serialised: {source}")]
    Changed {
        path: PathBuf,
        source: NarWriteError,
    },
    #[error("cannot serialise {path:?}: {source}")]
    Nar {
        path: PathBuf,
        source: NarWriteError,
    },
    #[error("cannot write the NAR: {0}")]
    Write(io::Error),
}

/// Why a NAR could not be restored. Nothing is left at the target afterwards.
#[derive(Debug, Error)]
pub enum RestoreError {
    #[error("cannot restore NAR to {path:?}: it already exists")]
    TargetExists { path: PathBuf },
    #[error("invalid NAR: {0}")]
    Nar(#[from] NarError),
    #[error("cannot create {path:?}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write {path:?}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "file of unknown type"
    }
}

/// Serialises the tree at `path` (not following a top-level symlink) as a
/// NAR into `out`, and hands `out` back.
///
/// The tree is first walked (directories read and `lstat`ed, in parallel
/// across subdirectories), then emitted in NAR order; runs of small files are
/// read in parallel ahead of the writer, large files are streamed in 1 MiB
/// chunks. A file whose size changes between the walk and the read is an error.
pub fn dump_path<W: Write>(path: &Path, out: W) -> Result<W, DumpError> {
    dump_path_filtered(path, &|_| true, out)
}

/// Which entries below the root a filtered dump keeps (by their path: the
/// root's joined with the names below it); a directory left out is not read.
pub type Keep<'a> = dyn Fn(&Path) -> bool + Sync + 'a;

/// [`dump_path`] of the entries `keep` accepts: the NAR of the tree as a copy
/// holding only those entries would give, without making the copy.
pub fn dump_path_filtered<W: Write>(path: &Path, keep: &Keep, out: W) -> Result<W, DumpError> {
    let meta = fs::symlink_metadata(path).map_err(|source| DumpError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut items = Vec::new();
    walk(path, None, &meta, keep, &mut items)?;
    let mut w = NarWriter::new(out);
    emit(&mut w, &items)?;
    w.finish().map_err(|e| match e {
        NarWriteError::Io(e) => DumpError::Write(e),
        source => DumpError::Nar {
            path: path.to_owned(),
            source,
        },
    })
}

/// One node of a walked tree, in NAR order.
enum Item {
    StartDir {
        name: Option<Vec<u8>>,
        path: PathBuf,
    },
    EndDir {
        path: PathBuf,
    },
    Symlink {
        name: Option<Vec<u8>>,
        path: PathBuf,
        target: Vec<u8>,
    },
    File {
        name: Option<Vec<u8>>,
        path: PathBuf,
        executable: bool,
        size: u64,
    },
}

/// Files up to this size are read whole, in parallel batches.
const SMALL_FILE: u64 = 256 * 1024;
/// Bytes and files per parallel batch of small files.
const BATCH_BYTES: u64 = 16 << 20;
const BATCH_FILES: usize = 1024;

fn walk(
    path: &Path,
    name: Option<Vec<u8>>,
    meta: &Metadata,
    keep: &Keep,
    out: &mut Vec<Item>,
) -> Result<(), DumpError> {
    let read_err = |source| DumpError::Read {
        path: path.to_owned(),
        source,
    };
    let ft = meta.file_type();
    if ft.is_file() {
        let executable = meta.permissions().mode() & 0o100 != 0;
        out.push(Item::File {
            name,
            path: path.to_owned(),
            executable,
            size: meta.len(),
        });
    } else if ft.is_symlink() {
        let target = fs::read_link(path)
            .map_err(read_err)?
            .into_os_string()
            .into_vec();
        out.push(Item::Symlink {
            name,
            path: path.to_owned(),
            target,
        });
    } else if ft.is_dir() {
        let mut entries: Vec<(Vec<u8>, Metadata)> = Vec::new();
        for entry in fs::read_dir(path).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            if !keep(&entry.path()) {
                continue;
            }
            // DirEntry::metadata is an lstat relative to the open directory.
            let meta = entry.metadata().map_err(|source| DumpError::Read {
                path: entry.path(),
                source,
            })?;
            entries.push((entry.file_name().into_vec(), meta));
        }
        // Nix sorts entries by their raw bytes.
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.push(Item::StartDir {
            name,
            path: path.to_owned(),
        });
        let subdirs = entries.iter().filter(|(_, m)| m.is_dir()).count();
        if subdirs > 1 {
            // Walk subtrees on all cores; results are joined back in order.
            let parts: Vec<Vec<Item>> = entries
                .into_par_iter()
                .map(|(n, m)| {
                    let mut v = Vec::new();
                    let child = path.join(OsStr::from_bytes(&n));
                    walk(&child, Some(n), &m, keep, &mut v).map(|()| v)
                })
                .collect::<Result<_, _>>()?;
            out.extend(parts.into_iter().flatten());
        } else {
            for (n, m) in entries {
                let child = path.join(OsStr::from_bytes(&n));
                walk(&child, Some(n), &m, keep, out)?;
            }
        }
        out.push(Item::EndDir {
            path: path.to_owned(),
        });
    } else {
        return Err(DumpError::UnsupportedFileType {
            path: path.to_owned(),
            kind: kind_of(&ft),
        });
    }
    Ok(())
}

fn write_err(path: &Path) -> impl FnOnce(NarWriteError) -> DumpError + '_ {
    move |e| match e {
        NarWriteError::Io(e) => DumpError::Write(e),
        NarWriteError::ReadContents { source, .. } => DumpError::Read {
            path: path.to_owned(),
            source,
        },
        e @ NarWriteError::ShortFile { .. } => DumpError::Changed {
            path: path.to_owned(),
            source: e,
        },
        source => DumpError::Nar {
            path: path.to_owned(),
            source,
        },
    }
}

/// Reads a small file whole: at most `size` bytes (fewer if it shrank).
fn read_small(path: &Path, size: u64) -> Result<Vec<u8>, DumpError> {
    let read_err = |source| DumpError::Read {
        path: path.to_owned(),
        source,
    };
    read_up_to(File::open(path).map_err(read_err)?, size).map_err(read_err)
}

fn read_up_to(mut f: File, size: u64) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; size as usize];
    let mut got = 0;
    while got < data.len() {
        match f.read(&mut data[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    data.truncate(got);
    Ok(data)
}

/// Reads the small files of a batch on all cores; the result is indexed like
/// `batch` (`None` for other items). Files are opened relative to their
/// directory, opened once per run of siblings, which spares the kernel a full
/// path lookup per file.
fn read_batch(batch: &[Item]) -> Result<Vec<Option<Vec<u8>>>, DumpError> {
    // Runs of files with the same parent: (parent, [(index, name, size)]).
    type Group<'a> = (&'a Path, Vec<(usize, &'a [u8], u64)>);
    let mut groups: Vec<Group> = Vec::new();
    for (k, item) in batch.iter().enumerate() {
        if let Item::File {
            name: Some(name),
            path,
            size,
            ..
        } = item
        {
            let parent = path.parent().expect("a named entry has a parent directory");
            match groups.last_mut() {
                Some((p, files)) if *p == parent => files.push((k, name, *size)),
                _ => groups.push((parent, vec![(k, name, *size)])),
            }
        }
    }
    let read: Vec<Vec<(usize, Vec<u8>)>> = groups
        .par_iter()
        .map(|(parent, files)| {
            let dir = rustix::fs::open(
                *parent,
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| DumpError::Read {
                path: parent.to_path_buf(),
                source: e.into(),
            })?;
            files
                .iter()
                .map(|&(k, name, size)| {
                    let path = || parent.join(OsStr::from_bytes(name));
                    let fd = rustix::fs::openat(
                        &dir,
                        name,
                        rustix::fs::OFlags::RDONLY
                            | rustix::fs::OFlags::CLOEXEC
                            | rustix::fs::OFlags::NOFOLLOW,
                        rustix::fs::Mode::empty(),
                    )
                    .map_err(|e| DumpError::Read {
                        path: path(),
                        source: e.into(),
                    })?;
                    let data =
                        read_up_to(File::from(fd), size).map_err(|source| DumpError::Read {
                            path: path(),
                            source,
                        })?;
                    Ok((k, data))
                })
                .collect::<Result<Vec<_>, DumpError>>()
        })
        .collect::<Result<_, _>>()?;
    let mut contents: Vec<Option<Vec<u8>>> = vec![None; batch.len()];
    for (k, data) in read.into_iter().flatten() {
        contents[k] = Some(data);
    }
    Ok(contents)
}

fn emit<W: Write>(w: &mut NarWriter<W>, items: &[Item]) -> Result<(), DumpError> {
    let mut i = 0;
    while i < items.len() {
        // The batch: items up to the next large file or the batch limits.
        let (mut end, mut bytes, mut files) = (i, 0u64, 0usize);
        while end < items.len() && bytes < BATCH_BYTES && files < BATCH_FILES {
            if let Item::File { size, .. } = &items[end] {
                if *size > SMALL_FILE {
                    break;
                }
                bytes += size;
                files += 1;
            }
            end += 1;
        }
        let batch = &items[i..end];
        let contents = if files > 1 {
            read_batch(batch)?
        } else {
            Vec::new()
        };
        for (k, item) in batch.iter().enumerate() {
            match item {
                Item::StartDir { name, path } => w
                    .start_directory(name.as_deref())
                    .map_err(write_err(path))?,
                Item::EndDir { path } => w.end_directory().map_err(write_err(path))?,
                Item::Symlink { name, path, target } => w
                    .symlink(name.as_deref(), target)
                    .map_err(write_err(path))?,
                Item::File {
                    name,
                    path,
                    executable,
                    size,
                } => {
                    let data = match contents.get(k) {
                        Some(Some(d)) => d,
                        _ => &read_small(path, *size)?,
                    };
                    w.file(name.as_deref(), *executable, *size, &mut &data[..])
                        .map_err(write_err(path))?;
                }
            }
        }
        i = end;
        if let Some(Item::File {
            name,
            path,
            executable,
            size,
        }) = items.get(i)
        {
            if *size > SMALL_FILE {
                let mut f = File::open(path).map_err(|source| DumpError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                w.file(name.as_deref(), *executable, *size, &mut f)
                    .map_err(write_err(path))?;
                i += 1;
            }
        }
    }
    Ok(())
}

const PIPE_CHUNK: usize = 1 << 20;

/// Restores the NAR read from `nar` to `target`, which must not exist.
///
/// Validation happens as the NAR streams; on any error everything written
/// under `target` is removed. Files are created with `O_EXCL` and
/// directories with `mkdir`, so nothing outside `target` is ever written and
/// no symlink is followed. Executable files get mode 0777, others 0666,
/// directories 0777, all less the umask.
pub fn restore<R: Read>(nar: R, target: &Path) -> Result<(), RestoreError> {
    restore_with(nar, target, &RestoreOptions::default())
}

/// How [`restore_with`] writes files.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Files of at least this many bytes are written with `O_DIRECT` where
    /// the file system allows it (else as usual): their bytes go from our
    /// buffer to the disk without being copied into the page cache, which
    /// costs about half the kernel CPU time of a buffered write and leaves
    /// nothing for a later flush to write. For bulk imports (substitution)
    /// whose files are not read right away; durability still needs a flush
    /// (`fsync`/`syncfs`), as for buffered writes.
    pub direct_io_from: Option<u64>,
}

/// Like [`restore`], writing files as `options` says.
pub fn restore_with<R: Read>(
    nar: R,
    target: &Path,
    options: &RestoreOptions,
) -> Result<(), RestoreError> {
    if fs::symlink_metadata(target).is_ok() {
        return Err(RestoreError::TargetExists {
            path: target.to_owned(),
        });
    }
    let mut reader = NarReader::new(nar);
    let result = restore_events(&mut reader, target, options);
    if result.is_err() {
        remove_partial(target);
    }
    result
}

fn remove_partial(target: &Path) {
    // Best effort: the restore error is what the caller needs to see.
    if let Ok(meta) = fs::symlink_metadata(target) {
        let _ = if meta.is_dir() {
            fs::remove_dir_all(target)
        } else {
            fs::remove_file(target)
        };
    }
}

fn restore_events<R: Read>(
    reader: &mut NarReader<R>,
    target: &Path,
    options: &RestoreOptions,
) -> Result<(), RestoreError> {
    let mut path = target.to_path_buf();
    let mut buf = Vec::new();
    let mut direct_buf: Option<AlignedBuf> = None;
    while let Some(event) = reader.next()? {
        let (name, node) = match event {
            Event::EndDirectory => {
                path.pop();
                continue;
            }
            Event::Node { name, node } => (name, node),
        };
        if let Some(name) = &name {
            path.push(OsStr::from_bytes(name));
        }
        let create_err = |source| RestoreError::Create {
            path: path.clone(),
            source,
        };
        match node {
            Node::Directory => {
                fs::create_dir(&path).map_err(create_err)?;
                // Stay in the directory: its entries come next, then EndDirectory pops it.
                continue;
            }
            Node::Symlink { target } => {
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .map_err(create_err)?;
            }
            Node::File { executable, size } => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if executable { 0o777 } else { 0o666 })
                    .open(&path)
                    .map_err(create_err)?;
                if options.direct_io_from.is_some_and(|min| size >= min) {
                    let dbuf = direct_buf.get_or_insert_with(AlignedBuf::new);
                    write_direct(reader, &f, dbuf.as_mut_slice()).map_err(|e| match e {
                        DirectError::Nar(e) => RestoreError::Nar(e),
                        DirectError::Write(source) => RestoreError::Write {
                            path: path.clone(),
                            source,
                        },
                    })?;
                    if name.is_some() {
                        path.pop();
                    }
                    continue;
                }
                if buf.is_empty() && size > 0 {
                    buf = vec![0u8; PIPE_CHUNK];
                }
                loop {
                    let n = reader.read_contents(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    f.write_all(&buf[..n])
                        .map_err(|source| RestoreError::Write {
                            path: path.clone(),
                            source,
                        })?;
                }
            }
        }
        if name.is_some() {
            path.pop();
        }
    }
    Ok(())
}

/// Alignment of direct writes (buffer address, file offset and length):
/// 4 KiB satisfies the logical block size of every common device.
const DIRECT_ALIGN: usize = 4096;
/// Bytes per direct write.
const DIRECT_CHUNK: usize = 1 << 20;

/// A [`DIRECT_CHUNK`]-byte buffer starting at a [`DIRECT_ALIGN`] boundary.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new() -> AlignedBuf {
        let storage = vec![0u8; DIRECT_CHUNK + DIRECT_ALIGN];
        let misalign = storage.as_ptr() as usize % DIRECT_ALIGN;
        let start = (DIRECT_ALIGN - misalign) % DIRECT_ALIGN;
        AlignedBuf { storage, start }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + DIRECT_CHUNK]
    }
}

enum DirectError {
    Nar(NarError),
    Write(io::Error),
}

/// Turns `O_DIRECT` on or off for `f`; whether it is on afterwards.
fn set_direct(f: &File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(f) else {
        return false;
    };
    let wanted = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    match fcntl_setfl(f, wanted) {
        Ok(()) => on,
        // Not allowed here (say, a file system without direct I/O): stays as it was.
        Err(_) => flags.contains(OFlags::DIRECT),
    }
}

/// Writes all of `data` to `f`. A direct write the file system refuses
/// (`EINVAL`: an alignment it does not accept, or a short write that left
/// the offset unaligned) is retried without `O_DIRECT`.
fn write_all_maybe_direct(f: &File, data: &[u8], direct: &mut bool) -> io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        match (&mut &*f).write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if *direct && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
            {
                *direct = set_direct(f, false);
                if *direct {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes the current file's contents from `reader` to `f`: whole blocks
/// with `O_DIRECT` when the file system takes it, the last partial block
/// through the page cache (direct writes must be block-sized).
fn write_direct<R: Read>(
    reader: &mut NarReader<R>,
    f: &File,
    buf: &mut [u8],
) -> Result<(), DirectError> {
    let mut direct = set_direct(f, true);
    loop {
        // Fill the buffer: a direct write wants whole blocks.
        let mut n = 0;
        while n < buf.len() {
            let got = reader
                .read_contents(&mut buf[n..])
                .map_err(DirectError::Nar)?;
            if got == 0 {
                break;
            }
            n += got;
        }
        if n == 0 {
            return Ok(());
        }
        let blocks = if direct { n - n % DIRECT_ALIGN } else { n };
        write_all_maybe_direct(f, &buf[..blocks], &mut direct).map_err(DirectError::Write)?;
        if blocks < n {
            direct = set_direct(f, false);
            write_all_maybe_direct(f, &buf[blocks..n], &mut direct).map_err(DirectError::Write)?;
        }
        if n < buf.len() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::hash::HashAlgo;
    use std::os::unix::fs::symlink;

    fn tree(root: &Path) {
        fs::create_dir(root).unwrap();
        fs::write(root.join("b"), b"bee").unwrap();
        fs::write(root.join("a"), b"").unwrap();
        fs::write(root.join("x"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("x"), fs::Permissions::from_mode(0o744)).unwrap();
        fs::create_dir(root.join("d")).unwrap();
        symlink("../nowhere", root.join("d/dangling")).unwrap();
    }

    #[test]
    fn dump_restore_dump_is_identical() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        tree(&src);
        let nar = dump_path(&src, Vec::new()).unwrap();
        let dst = tmp.path().join("dst");
        restore(&nar[..], &dst).unwrap();
        assert_eq!(dump_path(&dst, Vec::new()).unwrap(), nar);
        assert!(fs::metadata(dst.join("x")).unwrap().permissions().mode() & 0o111 != 0);
        assert_eq!(
            fs::read_link(dst.join("d/dangling")).unwrap(),
            Path::new("../nowhere")
        );
        let (h, n) = hash_path(&src, HashAlgo::Sha256).unwrap();
        assert_eq!((h, n), (HashAlgo::Sha256.digest(&nar), nar.len() as u64));
    }

    #[test]
    fn hashing_on_the_calling_thread_or_another_gives_the_nars_hash() {
        let tmp = tempfile::tempdir().unwrap();
        // NARs around the chunk at which a hashing thread starts: a file's NAR is
        // its contents padded to 8 bytes plus 112 bytes of framing, so these are
        // 8 bytes short of a chunk, a chunk, 8 bytes past it, and several.
        for size in [
            0,
            10,
            PIPE_CHUNK - 120,
            PIPE_CHUNK - 112,
            PIPE_CHUNK - 111,
            3 * PIPE_CHUNK + 7,
        ] {
            let f = tmp.path().join(format!("f{size}"));
            fs::write(&f, vec![b'x'; size]).unwrap();
            let nar = dump_path(&f, Vec::new()).unwrap();
            let (h, n) = hash_path(&f, HashAlgo::Sha256).unwrap();
            assert_eq!(
                (h, n),
                (HashAlgo::Sha256.digest(&nar), nar.len() as u64),
                "{size}"
            );
        }
        assert_eq!(
            dump_path(&tmp.path().join("f0"), Vec::new()).unwrap().len(),
            112,
            "the framing the sizes above assume"
        );
    }

    #[test]
    fn direct_restore_gives_the_same_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        tree(&src);
        // Around the chunk and block sizes: exact, one byte over, one short, with a tail.
        let sizes = [
            DIRECT_CHUNK,
            DIRECT_CHUNK + 1,
            2 * DIRECT_CHUNK - 1,
            3 * DIRECT_CHUNK + 12_345,
            DIRECT_ALIGN,
            DIRECT_ALIGN - 1,
            0,
        ];
        for (i, size) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..*size).map(|j| (j * 31 + i) as u8).collect();
            fs::write(src.join(format!("f{i}")), data).unwrap();
        }
        let nar = dump_path(&src, Vec::new()).unwrap();
        let options = RestoreOptions {
            direct_io_from: Some(0),
        };
        let dst = tmp.path().join("dst");
        restore_with(&nar[..], &dst, &options).unwrap();
        assert_eq!(dump_path(&dst, Vec::new()).unwrap(), nar);
        // A truncated NAR still fails and leaves nothing behind.
        let cut = tmp.path().join("cut");
        let err = restore_with(&nar[..nar.len() / 2], &cut, &options).unwrap_err();
        assert!(
            matches!(err, RestoreError::Nar(NarError::Truncated { .. })),
            "{err}"
        );
        assert!(fs::symlink_metadata(&cut).is_err());
    }

    #[test]
    fn restore_refuses_existing_target() {
        let tmp = tempfile::tempdir().unwrap();
        let nar = dump_path(&tmp.path().join("."), Vec::new()).unwrap();
        assert!(matches!(
            restore(&nar[..], tmp.path()),
            Err(RestoreError::TargetExists { .. })
        ));
    }

    #[test]
    fn restore_cleans_up_after_a_bad_nar() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        tree(&src);
        let nar = dump_path(&src, Vec::new()).unwrap();
        let dst = tmp.path().join("dst");
        let err = restore(&nar[..nar.len() - 9], &dst).unwrap_err();
        assert!(
            matches!(err, RestoreError::Nar(NarError::Truncated { .. })),
            "{err}"
        );
        assert!(fs::symlink_metadata(&dst).is_err());
    }

    #[test]
    fn fifo_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        match dump_path(tmp.path(), Vec::new()) {
            Err(DumpError::UnsupportedFileType { path, kind: "FIFO" }) => assert_eq!(path, fifo),
            other => panic!("expected a FIFO error, got {other:?}"),
        }
    }
}
