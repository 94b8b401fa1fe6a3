//! Removal of staged uploads that never got their narinfo: a pusher that
//! uploads a NAR and goes away (or a push that fails half way) would
//! otherwise leave it in the upload directory for ever.
//!
//! It does not touch the store: staged files are outside it.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// Removes the files in `dir` last written more than `expiry` ago; returns
/// how many. Errors on single files are logged and skipped.
pub(super) fn sweep(dir: &Path, expiry: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age <= expiry {
            continue;
        }
        match std::fs::remove_file(e.path()) {
            Ok(()) => removed += 1,
            Err(err) => tracing::warn!(
                "cache server: cannot remove expired upload {}: {err}",
                e.path().display()
            ),
        }
    }
    if removed > 0 {
        tracing::info!("cache server: removed {removed} expired staged upload(s)");
    }
    removed
}

/// Sweeps `dir` now and then every quarter of `expiry` (at least every
/// 100 ms, at most every minute), for as long as the runtime runs.
pub(super) async fn run(dir: std::path::PathBuf, expiry: Duration) {
    let every = (expiry / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        let d = dir.clone();
        // A directory listing: blocking work, kept off the I/O threads.
        let _ = tokio::task::spawn_blocking(move || sweep(&d, expiry)).await;
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.nar.zst");
        let new = dir.path().join("new.nar.zst");
        std::fs::write(&old, b"x").expect("write");
        std::fs::write(&new, b"y").expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(&old)
            .expect("open");
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .expect("set time");
        assert_eq!(sweep(dir.path(), Duration::from_secs(3600)), 1);
        assert!(!old.exists());
        assert!(new.exists());
    }
}
