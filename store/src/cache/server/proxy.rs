//! `b8g cache serve --from URL`: another cache (an S3 bucket, a `file://`
//! tree, an HTTP cache) served read-only over HTTP, for clients that cannot
//! reach it themselves or speak its protocol (Nix 2.8 as Debian builds it
//! has no S3). Narinfos and NARs pass through unchanged: the server signs
//! nothing it has not checked, and clients verify signatures and NAR hashes
//! as they would against the cache itself.
//!
//! No listing (`_b8g/narinfos`): any client could have the server page
//! through a whole bucket. The same connection limits as a store server
//! ([`super::listen`]);
//! narinfos and `nix-cache-info` are read whole up to [`METADATA_LIMIT`],
//! NARs streamed in 64 KiB chunks through a bounded channel by at most
//! [`NAR_PRODUCERS`] blocking readers, dropped when the client stops
//! reading for the download idle timeout.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

use super::{blocking, internal, text, ServeError, ServeOptions, ServerHandle, NAR_PRODUCERS};
use crate::cache::http::EXISTS_ENDPOINT;
use crate::cache::{BinaryCache, CacheError, CACHE_INFO_FILE};

struct Proxy {
    cache: Arc<dyn BinaryCache>,
    producers: Arc<tokio::sync::Semaphore>,
    opts: ServeOptions,
}

/// Starts serving `cache` on a thread of its own.
pub fn start_from(
    cache: Arc<dyn BinaryCache>,
    opts: ServeOptions,
) -> Result<ServerHandle, ServeError> {
    let limits = opts.limits.clone();
    let addr = opts.addr;
    let proxy = Arc::new(Proxy {
        cache,
        producers: Arc::new(tokio::sync::Semaphore::new(NAR_PRODUCERS)),
        opts,
    });
    let app = Router::new()
        .route(&format!("/{CACHE_INFO_FILE}"), get(cache_info))
        .route(&format!("/{EXISTS_ENDPOINT}"), post(exists))
        .route("/nar/{file}", get(nar))
        .route("/{file}", get(narinfo))
        .with_state(proxy);
    super::launch(addr, app, limits, None)
}

fn cache_failure(e: CacheError) -> Response {
    match &e {
        CacheError::Network { .. } | CacheError::Status { .. } | CacheError::Io { .. } => {
            tracing::warn!("cache serve --from: {e}");
            text(StatusCode::BAD_GATEWAY, format!("{e}\n"))
        }
        _ => internal(e),
    }
}

/// A narinfo's or `nix-cache-info`'s bytes, as the cache has them.
async fn small_file(p: Arc<Proxy>, file: String, content_type: &'static str) -> Response {
    match blocking(move || p.cache.get_bytes(&file)).await {
        Err(r) => r,
        Ok(Err(e)) => cache_failure(e),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such file\n"),
        Ok(Ok(Some(bytes))) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
    }
}

async fn cache_info(State(p): State<Arc<Proxy>>) -> Response {
    small_file(p, CACHE_INFO_FILE.to_owned(), "text/x-nix-cache-info").await
}

/// `<32 nix32 characters>.narinfo`: nothing else of the cache is exposed.
fn is_narinfo_name(file: &str) -> bool {
    file.strip_suffix(".narinfo").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Names one existence query may ask about (each costs a request upstream).
const MAX_EXISTS: usize = 10_000;

async fn narinfo(State(p): State<Arc<Proxy>>, UrlPath(file): UrlPath<String>) -> Response {
    if !is_narinfo_name(&file) {
        return text(StatusCode::NOT_FOUND, "no such file\n");
    }
    small_file(p, file, "text/x-nix-narinfo").await
}

async fn nar(State(p): State<Arc<Proxy>>, UrlPath(file): UrlPath<String>) -> Response {
    let ok = !file.is_empty()
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && !file.starts_with('.');
    if !ok {
        return text(StatusCode::NOT_FOUND, "no such file\n");
    }
    let Ok(permit) = Arc::clone(&p.producers).acquire_owned().await else {
        return internal("the NAR readers are gone");
    };
    let name = format!("nar/{file}");
    let cache = Arc::clone(&p.cache);
    let opened = match blocking(move || cache.get(&name)).await {
        Err(r) => return r,
        Ok(Err(e)) => return cache_failure(e),
        Ok(Ok(None)) => return text(StatusCode::NOT_FOUND, "no such file\n"),
        Ok(Ok(Some(r))) => r,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let stall = p.opts.limits.download_idle_timeout;
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut reader = opened;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let item = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                Err(e) => Err(e),
            };
            let last = item.is_err();
            // A client that went away or stopped reading ends the copy.
            if rt.block_on(tx.send_timeout(item, stall)).is_err() || last {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(header::CONTENT_TYPE, "application/x-nix-nar")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn exists(State(p): State<Arc<Proxy>>, body: Body) -> Response {
    let limits = &p.opts.limits;
    let body = match super::body::read_small(
        body,
        METADATA_LIMIT_USIZE,
        limits.body_timeout,
        limits.body_timeout,
    )
    .await
    {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(r) => return r,
    };
    // Narinfo names only (`..` would reach other keys, even other buckets)
    // and a bounded count: each is a request upstream.
    let files: Vec<String> = body
        .lines()
        .filter(|l| *l == CACHE_INFO_FILE || is_narinfo_name(l))
        .map(str::to_owned)
        .collect();
    if files.len() > MAX_EXISTS {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_EXISTS} names per query\n"),
        );
    }
    let cache = Arc::clone(&p.cache);
    match blocking(move || cache.which_exist(&files)).await {
        Err(r) => r,
        Ok(Err(e)) => cache_failure(e),
        Ok(Ok(found)) => {
            let out: String = found.into_iter().map(|f| f + "\n").collect();
            text(StatusCode::OK, out)
        }
    }
}

const METADATA_LIMIT_USIZE: usize = crate::cache::METADATA_LIMIT as usize;
