//! Serving NARs: each request serialises the path from the store and
//! compresses it on a blocking thread while it is sent (see the module doc
//! of [`super`] for the slots that bound this), with single byte ranges of
//! uncompressed NARs. A
//! client that goes away or takes nothing for
//! [`super::ServeLimits::download_idle_timeout`] frees its slot.
//!
//! It does not write anything: uploads are in [`super`].

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::{blocking, internal, text, Server};
use crate::cache::compress::Encoder;
use crate::format::narinfo::Compression;
use crate::nar_fs;

/// `bytes=a-b` / `bytes=a-` / `bytes=-n` (one range) against a known length.
fn parse_range(h: &str, total: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (total.saturating_sub(n), total.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            total.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(total.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && end < total).then_some((start, end))
}

/// A writer that sends a window `[skip, skip+limit)` of what it is given down a channel.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    skip: u64,
    limit: u64,
    buf: Vec<u8>,
    /// The runtime, to wait for room in the channel with a deadline.
    rt: tokio::runtime::Handle,
    /// How long the client may take nothing before the download is dropped.
    stall: Duration,
    /// Set when the client went away or stopped reading: the producer's
    /// error then says nothing about the NAR (it may come wrapped in
    /// another kind by the serialiser).
    client_gone: Arc<std::sync::atomic::AtomicBool>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        // On a blocking-pool thread: waiting on the runtime is allowed here.
        self.rt
            .block_on(self.tx.send_timeout(Ok(chunk), self.stall))
            .map_err(|e| {
                self.client_gone
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let why = match e {
                    mpsc::error::SendTimeoutError::Timeout(_) => "client stopped reading",
                    mpsc::error::SendTimeoutError::Closed(_) => "client went away",
                };
                io::Error::new(io::ErrorKind::BrokenPipe, why)
            })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        let mut d = data;
        // Skipping to a range's start sends nothing, so a client that left
        // would not be noticed until then.
        if self.tx.is_closed() {
            self.client_gone
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "client went away",
            ));
        }
        if self.skip > 0 {
            let k = (self.skip.min(d.len() as u64)) as usize;
            self.skip -= k as u64;
            d = &d[k..];
        }
        let take = (self.limit.min(d.len() as u64)) as usize;
        self.buf.extend_from_slice(&d[..take]);
        self.limit -= take as u64;
        if self.buf.len() >= 1 << 16 {
            self.send_buf()?;
        }
        if self.limit == 0 {
            self.send_buf()?;
            // Everything asked for is out; stop the producer.
            return Err(io::Error::new(io::ErrorKind::WriteZero, "range complete"));
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// Serialises `real` (whose NAR is `nar_size` bytes) as a NAR compressed
/// with `c` into `out`.
fn produce<W: Write>(
    real: &std::path::Path,
    nar_size: u64,
    (c, level): (&Compression, i32),
    out: W,
) -> io::Result<W> {
    let enc = Encoder::with_options(c, out, Some(nar_size), level)?;
    let enc = nar_fs::dump_path(real, enc).map_err(io::Error::other)?;
    enc.finish()
}

pub(super) async fn get_nar(
    State(s): State<Arc<Server>>,
    method: Method,
    headers: HeaderMap,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let ext = format!(".nar{}", s.compression.extension());
    let Some((hash_part, nar_hash)) = file
        .strip_suffix(&ext)
        .and_then(|stem| stem.split_once('-'))
    else {
        return text(StatusCode::NOT_FOUND, "no such NAR\n");
    };
    let (hash_part, nar_hash) = (hash_part.to_owned(), nar_hash.to_owned());
    let s2 = s.clone();
    let found = blocking(
        move || -> Result<Option<(std::path::PathBuf, u64)>, String> {
            let Some(path) = s2.lookup(&hash_part).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let Some(info) = s2.store.path_info(&path).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            // A URL names one content: an older NAR hash is not served.
            if info.nar_hash.to_nix32() != nar_hash {
                return Ok(None);
            }
            Ok(Some((s2.store.real_path(&path), info.nar_size)))
        },
    )
    .await;
    let (real, nar_size) = match found {
        Err(r) => return r,
        Ok(Err(e)) => return internal(e),
        Ok(Ok(None)) => return text(StatusCode::NOT_FOUND, "no such NAR\n"),
        Ok(Ok(Some(x))) => x,
    };
    let content_type = if s.compression == Compression::None {
        "application/x-nix-nar"
    } else {
        "application/octet-stream"
    };
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // The length is known without work only for uncompressed NARs; a
    // compressed one would have to be compressed once just to count it (an
    // attack pass made the server compress whole NARs for `Range: bytes=0-0`),
    // so ranges of compressed NARs are not served: the whole file is, as
    // HTTP allows. Nix never asks for ranges.
    let total = (s.compression == Compression::None).then_some(nar_size);
    let range_header = range_header.filter(|_| total.is_some());
    let (status, skip, limit, mut extra) = match (range_header, total) {
        (Some(h), Some(total)) => match parse_range(&h, total) {
            Some((a, b)) => (
                StatusCode::PARTIAL_CONTENT,
                a,
                b - a + 1,
                vec![(header::CONTENT_RANGE, format!("bytes {a}-{b}/{total}"))],
            ),
            None => {
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{total}"))],
                )
                    .into_response()
            }
        },
        _ => (StatusCode::OK, 0, u64::MAX, Vec::new()),
    };
    if let Some(total) = total {
        let len = if status == StatusCode::PARTIAL_CONTENT {
            limit
        } else {
            total
        };
        extra.push((header::CONTENT_LENGTH, len.to_string()));
    }
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::ACCEPT_RANGES,
            if total.is_some() { "bytes" } else { "none" },
        );
    for (k, v) in extra {
        builder = builder.header(k, v);
    }
    if method == Method::HEAD {
        return builder.body(Body::empty()).unwrap_or_else(internal);
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    let compression = s.compression.clone();
    let level = s.zstd_level;
    let stall = s.limits.download_idle_timeout;
    let rt = tokio::runtime::Handle::current();
    let client_gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Waiting here (not in the blocking pool) keeps idle requests cheap.
    let permit = match s.producers.clone().acquire_owned().await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let w = ChannelWriter {
            tx: tx.clone(),
            skip,
            limit,
            buf: Vec::with_capacity(1 << 16),
            rt: rt.clone(),
            stall,
            client_gone: client_gone.clone(),
        };
        match produce(&real, nar_size, (&compression, level), w) {
            Ok(mut w) => {
                let _ = w.flush();
            }
            Err(_) if client_gone.load(std::sync::atomic::Ordering::Relaxed) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WriteZero
                    || e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                // Aborts the response, so the client sees a broken transfer, not a short NAR.
                // Bounded wait: a client that reads nothing must not hold the slot.
                tracing::error!("cache server: serialising {}: {e}", real.display());
                let _ = rt.block_on(tx.send_timeout(Err(e), stall));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    builder
        .body(Body::from_stream(stream))
        .unwrap_or_else(internal)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
