//! A tree's NAR hash, with reading and hashing overlapped once the NAR is past a
//! chunk.

use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

use super::{dump_path_filtered, DumpError, Keep, PIPE_CHUNK};
use crate::format::hash::{Hash, HashAlgo, HashSink};

/// Hashes what is written to it. The first [`PIPE_CHUNK`] bytes are only
/// gathered: a tree that small (a derivation's source, a directory of
/// scripts: nearly every `path` an evaluation hashes) is hashed on the
/// calling thread with a buffer its own size. Past that, full chunks go to a
/// hashing thread, so disk reads and hashing overlap. Gathering the first
/// chunk before starting the thread kept `images/minimal.nix`'s evaluation
/// from holding two 1 MiB chunks and a thread for a few kB of files.
struct ChunkHasher<'scope, 'env> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    algo: HashAlgo,
    cur: Vec<u8>,
    thread: Option<HashThread<'scope>>,
}

/// The hashing thread, and the channels chunks go to it and come back by.
struct HashThread<'scope> {
    full: mpsc::SyncSender<Vec<u8>>,
    empty: mpsc::Receiver<Vec<u8>>,
    handle: std::thread::ScopedJoinHandle<'scope, (Hash, u64)>,
}

impl<'scope> ChunkHasher<'scope, '_> {
    fn send_cur(&mut self) -> io::Result<()> {
        let algo = self.algo;
        let thread = self.thread.get_or_insert_with(|| {
            let (full, full_rx) = mpsc::sync_channel::<Vec<u8>>(4);
            let (empty_tx, empty) = mpsc::channel::<Vec<u8>>();
            let handle = self.scope.spawn(move || {
                let mut sink = HashSink::new(algo);
                for mut chunk in full_rx {
                    sink.update(&chunk);
                    chunk.clear();
                    // The dumping side may have finished already; then the chunk is simply dropped.
                    let _ = empty_tx.send(chunk);
                }
                sink.finish()
            });
            HashThread {
                full,
                empty,
                handle,
            }
        });
        let next = thread
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_CHUNK));
        let chunk = std::mem::replace(&mut self.cur, next);
        thread
            .full
            .send(chunk)
            .map_err(|_| io::Error::other("the hashing thread stopped"))
    }

    /// The hash and length of everything written.
    fn finish(mut self) -> io::Result<(Hash, u64)> {
        let Some(thread) = self.thread.take() else {
            let mut sink = HashSink::new(self.algo);
            sink.update(&self.cur);
            return Ok(sink.finish());
        };
        let last = std::mem::take(&mut self.cur);
        let sent = match last.is_empty() {
            true => Ok(()),
            false => thread.full.send(last),
        };
        // Dropping the sender ends the hasher's loop.
        drop(thread.full);
        let hash = thread
            .handle
            .join()
            .expect("the hashing thread does not panic");
        sent.map_err(|_| io::Error::other("the hashing thread stopped"))?;
        Ok(hash)
    }
}

impl Write for ChunkHasher<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = PIPE_CHUNK - self.cur.len();
        let n = room.min(buf.len());
        self.cur.extend_from_slice(&buf[..n]);
        if self.cur.len() == PIPE_CHUNK {
            self.send_cur()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The NAR hash and NAR size of the tree at `path`, as `nix hash path` and
/// `nix-store --dump | wc -c` give them. A tree of more than a chunk is read
/// on the calling thread and hashed on another, so disk reads and hashing
/// overlap.
pub fn hash_path(path: &Path, algo: HashAlgo) -> Result<(Hash, u64), DumpError> {
    hash_path_filtered(path, algo, &|_| true)
}

/// [`hash_path`] of the entries `keep` accepts (see [`dump_path_filtered`]).
pub fn hash_path_filtered(
    path: &Path,
    algo: HashAlgo,
    keep: &Keep,
) -> Result<(Hash, u64), DumpError> {
    std::thread::scope(|scope| {
        let mut hasher = ChunkHasher {
            scope,
            algo,
            cur: Vec::new(),
            thread: None,
        };
        // On an error the hasher drops here, which ends its thread's loop.
        dump_path_filtered(path, keep, &mut hasher)?;
        hasher.finish().map_err(DumpError::Write)
    })
}
