//! `b8g cache serve`: a local store served over HTTP as a Nix binary cache.
//!
//! Nothing is precomputed: a narinfo is made from the store's metadata when
//! asked for (and signed on the way out when the server has a key), and a
//! NAR is serialised from the store and compressed while it is sent. NAR
//! URLs are `nar/<hash part>-<nix32 NAR hash>.nar[.zst|.xz]`, so a URL
//! names exactly one content. GET, HEAD and single byte ranges are served.
//!
//! With a push token (sent as `Bearer`, or as the password of HTTP Basic
//! auth, as Nix does from a netrc file), `PUT` of NAR files and narinfos
//! (what [`super::push`] and `nix copy --to http://…` send) imports paths into the store: NARs are
//! staged on disk, and a narinfo imports its NAR, checked against its hash
//! and size, once its references are valid. The token only lets a client
//! upload: a narinfo is imported only when it carries a valid signature by
//! one of the server's push keys ([`ServeOptions::push_keys`]), so a leaked
//! token cannot put content under a store path name the server then signs
//! and serves (as Nix's daemon requires signatures from untrusted users).
//!
//! The store is synchronous; store work runs on tokio's blocking pool and
//! streams to the client through a bounded channel. Memory stays bounded
//! whatever the number of clients: at most [`NAR_PRODUCERS`] NARs are
//! serialised and compressed at once (each holds a compressor and a few
//! 64 KiB chunks in flight); further NAR requests wait for a slot. A client
//! that goes away closes its channel, which stops its producer at the next
//! chunk.
//!
//! Limits ([`ServeLimits`]): connections are capped, in all and per client
//! address, must send their request head in time, and are shed when slots
//! run out ([`listen`]); an upload may not exceed a size nor
//! stall, a narinfo may not exceed [`METADATA_LIMIT`]; staged NARs whose
//! narinfo never came are removed after an expiry ([`sweep`]).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt as _;
use thiserror::Error;
use tokio::sync::oneshot;

use super::compress;
use super::http::{EXISTS_ENDPOINT, LIST_ENDPOINT};
use super::push::make_narinfo;
use super::{CACHE_INFO_FILE, METADATA_LIMIT};
use crate::format::narinfo::{CacheInfo, Compression, NarInfo};
use crate::format::signing::{PublicKey, SecretKey};
use crate::format::store_path::StorePath;
use crate::local::{LocalStore, NarExpectation};

mod body;
mod download;
mod listen;
mod proxy;
mod sweep;

pub use proxy::start_from;

/// How to serve.
pub struct ServeOptions {
    /// Where to listen; loopback unless the operator says otherwise.
    pub addr: SocketAddr,
    /// Signs every narinfo served.
    pub key: Option<SecretKey>,
    /// Enables `PUT` for clients presenting `Authorization: Bearer <token>`.
    pub push_token: Option<String>,
    /// A pushed narinfo is imported only with a valid signature by one of
    /// these; a push token without them is refused at start.
    pub push_keys: Vec<PublicKey>,
    /// Compression of served NARs.
    pub compression: Compression,
    /// zstd level of served NARs: each request compresses anew, so this is
    /// paid on every download.
    pub zstd_level: i32,
    /// `Priority` in `nix-cache-info`.
    pub priority: u32,
    /// What clients may cost the server.
    pub limits: ServeLimits,
}

/// What one client may cost the server. The defaults suit a cache on a
/// network; tests shorten the times.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// A connection must send a complete request head within this time
    /// after it opens or after its previous response; else it is closed.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Connections from one client address (an IPv6 /64) at once; more are closed.
    pub max_connections_per_address: usize,
    /// A connection is closed after this long, once its current response is sent.
    pub connection_lifetime: Duration,
    /// The largest NAR file a push may upload.
    pub max_upload: u64,
    /// All staged uploads together (those whose narinfo has not come yet,
    /// and those arriving) may not exceed this.
    pub max_staged: u64,
    /// An upload that sends nothing for this long is dropped.
    pub upload_idle_timeout: Duration,
    /// A small request body (a narinfo, an existence query) must arrive
    /// whole within this time after the handler starts reading it.
    pub body_timeout: Duration,
    /// A download whose client takes nothing for this long is dropped (it
    /// holds one of the [`NAR_PRODUCERS`] slots meanwhile).
    pub download_idle_timeout: Duration,
    /// A staged NAR whose narinfo has not come after this long is removed.
    pub staged_expiry: Duration,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            header_timeout: Duration::from_secs(30),
            // Well under the usual 1024 descriptors, which the store needs too.
            max_connections: 512,
            // Browsers open 6 per host, Nix up to `http-connections` (25).
            max_connections_per_address: 32,
            connection_lifetime: Duration::from_secs(600),
            // Larger than the compressed NAR of any package we know of.
            max_upload: 16 << 30,
            max_staged: 64 << 30,
            upload_idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            download_idle_timeout: Duration::from_secs(60),
            staged_expiry: Duration::from_secs(3600),
        }
    }
}

impl ServeOptions {
    pub fn loopback(port: u16) -> ServeOptions {
        ServeOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            key: None,
            push_token: None,
            push_keys: Vec::new(),
            compression: Compression::Zstd,
            zstd_level: compress::ZSTD_LEVEL,
            priority: 40,
            limits: ServeLimits::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot start the server's runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("server failed: {0}")]
    Serve(io::Error),
    #[error("compression {0} cannot be served")]
    Compression(String),
    #[error("a push token needs at least one push key: pushed paths must be signed by a key the server trusts")]
    PushWithoutKeys,
    #[error("cannot create upload directory {path}: {source}")]
    Uploads { path: PathBuf, source: io::Error },
}

/// A running server; dropping it does not stop it, [`ServerHandle::stop`] does.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl ServerHandle {
    /// The address actually bound (port 0 picks a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets running requests finish, and waits.
    pub fn stop(mut self) -> Result<(), ServeError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.join_inner()
    }

    /// Waits until the server ends (it only ends on error or [`stop`](Self::stop)).
    pub fn join(mut self) -> Result<(), ServeError> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Result<(), ServeError> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ServeError::Serve(io::Error::other(
                "server thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

/// NARs serialised and compressed at the same time (see the module doc).
pub const NAR_PRODUCERS: usize = 16;

struct Server {
    store: Arc<LocalStore>,
    /// One permit per NAR being produced.
    producers: Arc<tokio::sync::Semaphore>,
    key: Option<SecretKey>,
    push_token: Option<String>,
    push_keys: Vec<PublicKey>,
    compression: Compression,
    zstd_level: i32,
    priority: u32,
    limits: ServeLimits,
    uploads: PathBuf,
    /// hash part → path; refreshed from the database on a miss (at most once a second).
    index: Mutex<(HashMap<String, StorePath>, Option<Instant>)>,
}

/// Starts serving `store` on a thread of its own.
pub fn start(store: Arc<LocalStore>, opts: ServeOptions) -> Result<ServerHandle, ServeError> {
    if !compress::supported(&opts.compression) {
        return Err(ServeError::Compression(opts.compression.to_string()));
    }
    if opts.push_token.is_some() && opts.push_keys.is_empty() {
        return Err(ServeError::PushWithoutKeys);
    }
    let uploads = store.state_dir().join("cache-uploads");
    std::fs::create_dir_all(&uploads).map_err(|source| ServeError::Uploads {
        path: uploads.clone(),
        source,
    })?;
    let server = Arc::new(Server {
        store,
        producers: Arc::new(tokio::sync::Semaphore::new(NAR_PRODUCERS)),
        key: opts.key,
        push_token: opts.push_token,
        push_keys: opts.push_keys,
        compression: opts.compression,
        zstd_level: opts.zstd_level,
        priority: opts.priority,
        limits: opts.limits.clone(),
        uploads: uploads.clone(),
        index: Mutex::new((HashMap::new(), None)),
    });
    let app = Router::new()
        .route(
            &format!("/{CACHE_INFO_FILE}"),
            get(cache_info).put(put_cache_info),
        )
        .route(&format!("/{EXISTS_ENDPOINT}"), post(exists))
        .route(&format!("/{LIST_ENDPOINT}"), get(list))
        .route("/nar/{file}", get(download::get_nar).put(put_nar))
        .route("/{file}", get(get_narinfo).put(put_narinfo))
        .with_state(server);
    launch(opts.addr, app, opts.limits, Some(uploads))
}

/// Binds `addr` and serves `app` on a thread of its own, with the
/// connection limits of `limits`; staged uploads under `sweep` expire.
fn launch(
    addr: SocketAddr,
    app: Router,
    limits: ServeLimits,
    sweep: Option<PathBuf>,
) -> Result<ServerHandle, ServeError> {
    // Blocking work (database lookups, NAR producers) runs on a small pool: each
    // blocking thread costs memory of its own (stack, allocator arena, database
    // cache), and 200 clients must not mean hundreds of them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(NAR_PRODUCERS + 4)
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("b8g-cache-serve".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Some(dir) = sweep {
                    tokio::spawn(sweep::run(dir, limits.staged_expiry));
                }
                listen::serve(listener, app, limits, stop_rx)
                    .await
                    .map_err(ServeError::Serve)
            })
        })
        .map_err(ServeError::Runtime)?;
    Ok(ServerHandle {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

fn bad(message: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message)
}

/// The key names of `signatures`, for an error message.
fn signers(signatures: &[String]) -> String {
    if signatures.is_empty() {
        return "nobody".into();
    }
    let names: Vec<&str> = signatures
        .iter()
        .map(|s| s.split_once(':').map_or(s.as_str(), |(n, _)| n))
        .collect();
    names.join(", ")
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.into()).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("cache server: {e}");
    text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
}

impl Server {
    /// Finds the valid path with this hash part.
    fn lookup(&self, hash_part: &str) -> Result<Option<StorePath>, crate::local::Error> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = index.0.get(hash_part) {
            return Ok(Some(p.clone()));
        }
        let fresh = index
            .1
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if !fresh {
            index.0 = self
                .store
                .valid_paths()?
                .into_iter()
                .map(|p| (p.hash_part().to_owned(), p))
                .collect();
            index.1 = Some(Instant::now());
        }
        let found = index.0.get(hash_part).cloned();
        // The index may be stale the other way too (path deleted by GC).
        match found {
            Some(p) if self.store.is_valid(&p)? => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    fn nar_url(&self, path: &StorePath, nar_hash_nix32: &str) -> String {
        format!(
            "nar/{}-{}.nar{}",
            path.hash_part(),
            nar_hash_nix32,
            self.compression.extension()
        )
    }

    /// `None` when the request may push, else the refusal to send.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let Some(token) = &self.push_token else {
            return Some(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "this cache does not accept pushes\n",
            ));
        };
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // `Bearer <token>` (b8g), or HTTP Basic with the token as password,
        // which is what Nix sends from a netrc file.
        let given: Option<String> = if let Some(t) = auth.strip_prefix("Bearer ") {
            Some(t.to_owned())
        } else if let Some(b) = auth.strip_prefix("Basic ") {
            data_encoding::BASE64
                .decode(b.trim().as_bytes())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|up| up.split_once(':').map(|(_, p)| p.to_owned()))
        } else {
            None
        };
        // Constant-time comparison: the token is a secret.
        let ok = given.is_some_and(|g| {
            g.len() == token.len()
                && g.bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if ok {
            None
        } else {
            Some(text(
                StatusCode::UNAUTHORIZED,
                "missing or wrong push token\n",
            ))
        }
    }

    /// A small request body (see [`body::read_small`]).
    async fn read_small(&self, b: Body) -> Result<Vec<u8>, Response> {
        body::read_small(
            b,
            METADATA_LIMIT as usize,
            self.limits.upload_idle_timeout,
            self.limits.body_timeout,
        )
        .await
    }

    fn staged(&self, nar_file: &str) -> Option<PathBuf> {
        // Only plain file names: nothing may escape the upload directory.
        let ok = !nar_file.is_empty() && !nar_file.contains('/') && !nar_file.starts_with('.');
        ok.then(|| self.uploads.join(nar_file))
    }
}

async fn cache_info(State(s): State<Arc<Server>>) -> Response {
    let info = CacheInfo {
        store_dir: Some(s.store.store_dir().as_str().to_owned()),
        want_mass_query: true,
        priority: Some(s.priority),
    };
    (
        [(header::CONTENT_TYPE, "text/x-nix-cache-info")],
        info.to_text(),
    )
        .into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

async fn get_narinfo(State(s): State<Arc<Server>>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(hash_part) = file.strip_suffix(".narinfo") else {
        return text(StatusCode::NOT_FOUND, "no such file\n");
    };
    let hash_part = hash_part.to_owned();
    let res = blocking(move || -> Result<Option<String>, String> {
        let Some(path) = s.lookup(&hash_part).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let Some(info) = s.store.path_info(&path).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let url = s.nar_url(&path, &info.nar_hash.to_nix32());
        let ni = make_narinfo(
            &s.store,
            &info,
            url,
            s.compression.clone(),
            None,
            s.key.as_ref(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Some(ni.to_text(s.store.store_dir())))
    })
    .await;
    match res {
        Err(r) => r,
        Ok(Err(e)) => internal(e),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such path\n"),
        Ok(Ok(Some(body))) => {
            ([(header::CONTENT_TYPE, "text/x-nix-narinfo")], body).into_response()
        }
    }
}

async fn exists(State(s): State<Arc<Server>>, headers: HeaderMap, body: Body) -> Response {
    let body = match s.read_small(body).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(r) => return r,
    };
    // Staged uploads are a pusher's business: others learn nothing of them.
    let pusher = s.refusal(&headers).is_none();
    let res = blocking(move || -> Result<String, String> {
        let mut out = String::new();
        for line in body.lines() {
            let present = if line == CACHE_INFO_FILE {
                true
            } else if let Some(h) = line.strip_suffix(".narinfo") {
                s.lookup(h).map_err(|e| e.to_string())?.is_some()
            } else if let Some(f) = line.strip_prefix("nar/") {
                pusher && s.staged(f).is_some_and(|p| p.exists())
            } else {
                false
            };
            if present {
                out.push_str(line);
                out.push('\n');
            }
        }
        Ok(out)
    })
    .await;
    match res {
        Err(r) => r,
        Ok(Err(e)) => internal(e),
        Ok(Ok(body)) => text(StatusCode::OK, body),
    }
}

async fn list(State(s): State<Arc<Server>>) -> Response {
    match blocking(move || s.store.valid_paths()).await {
        Err(r) => r,
        Ok(Err(e)) => internal(e),
        Ok(Ok(paths)) => {
            let body: String = paths
                .iter()
                .map(|p| format!("{}.narinfo\n", p.hash_part()))
                .collect();
            text(StatusCode::OK, body)
        }
    }
}

async fn put_nar(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(file): UrlPath<String>,
    body: Body,
) -> Response {
    if let Some(r) = s.refusal(&headers) {
        return r;
    }
    let Some(target) = s.staged(&file) else {
        return text(StatusCode::BAD_REQUEST, "bad NAR file name\n");
    };
    let max = s.limits.max_upload;
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an upload may hold at most {max} bytes\n"),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return too_large();
    }
    // A token holder may not fill the disk with uploads no narinfo claims:
    // what is staged already counts against the quota (third attack pass).
    let staged_now = staged_bytes(&s.uploads);
    if staged_now.saturating_add(announced.unwrap_or(0)) > s.limits.max_staged {
        return text(
            StatusCode::INSUFFICIENT_STORAGE,
            "too much is staged already: push the narinfos of the uploaded NARs first\n",
        );
    }
    let tmp = match tempfile::NamedTempFile::new_in(&s.uploads) {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    // Dropping `tmp_path` (on any early return) removes the partial file.
    let (mut file_handle, tmp_path) = tmp.into_parts();
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    let mut pace = body::UploadPace::new();
    loop {
        let next = tokio::time::timeout(s.limits.upload_idle_timeout, stream.next()).await;
        let Ok(next) = next else {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "upload stalled: nothing received in time\n",
            );
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("upload broke off: {e}\n")),
        };
        received += chunk.len() as u64;
        if received > max {
            return too_large();
        }
        if staged_now.saturating_add(received) > s.limits.max_staged {
            return text(
                StatusCode::INSUFFICIENT_STORAGE,
                "too much is staged already: push the narinfos of the uploaded NARs first\n",
            );
        }
        if !pace.keeps_up(chunk.len() as u64) {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "upload too slow: less than 64 KiB in a minute\n",
            );
        }
        // Small synchronous writes; the multi-threaded runtime absorbs them.
        if let Err(e) = tokio::task::block_in_place(|| file_handle.write_all(&chunk)) {
            return internal(e);
        }
    }
    match tmp_path.persist(&target) {
        Ok(()) => text(StatusCode::OK, ""),
        Err(e) => internal(e.error),
    }
}

/// Bytes in the upload directory (staged NARs and uploads in progress).
fn staged_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Ours is generated; a client writing one (as pushers do before uploading)
/// changes nothing, but learns whether it may push.
async fn put_cache_info(State(s): State<Arc<Server>>, headers: HeaderMap) -> Response {
    s.refusal(&headers)
        .unwrap_or_else(|| text(StatusCode::OK, ""))
}

async fn put_narinfo(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    UrlPath(file): UrlPath<String>,
    body: Body,
) -> Response {
    // The token first: nothing of an unauthorised request's body is read.
    if let Some(r) = s.refusal(&headers) {
        return r;
    }
    if !file.ends_with(".narinfo") {
        return text(
            StatusCode::BAD_REQUEST,
            "only narinfos and NARs can be pushed\n",
        );
    }
    let body = match s.read_small(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let res = blocking(
        move || -> Result<Result<(), (StatusCode, String)>, String> {
            let info = match NarInfo::parse(s.store.store_dir(), &body) {
                Ok(i) => i,
                Err(e) => return Ok(Err(bad(e.to_string()))),
            };
            if format!("{}.narinfo", info.path.hash_part()) != file {
                return Ok(Err(bad(format!(
                    "{file} describes {}",
                    s.store.print_path(&info.path)
                ))));
            }
            if !info.has_valid_signature(s.store.store_dir(), &s.push_keys) {
                // The staged NAR is of no use now.
                if let Some(staged) = info.url.strip_prefix("nar/").and_then(|f| s.staged(f)) {
                    let _ = std::fs::remove_file(staged);
                }
                return Ok(Err((
                    StatusCode::FORBIDDEN,
                    format!(
                        "{} is not signed by a key this cache accepts pushes from (signed by: {})",
                        s.store.print_path(&info.path),
                        signers(&info.signatures)
                    ),
                )));
            }
            let Some(staged) = info.url.strip_prefix("nar/").and_then(|f| s.staged(f)) else {
                return Ok(Err(bad(format!("URL {} is not an uploaded NAR", info.url))));
            };
            let f = match std::fs::File::open(&staged) {
                Ok(f) => f,
                Err(e) => {
                    return Ok(Err(bad(format!(
                        "NAR {} was not uploaded first: {e}",
                        info.url
                    ))))
                }
            };
            let nar = match compress::decoder(&info.compression, io::BufReader::new(f)) {
                Ok(d) => d,
                Err(e) => return Ok(Err(bad(e.to_string()))),
            };
            let expected = NarExpectation {
                path: info.path.clone(),
                nar_hash: info.nar_hash,
                nar_size: info.nar_size,
                references: info.references.clone(),
                deriver: info.deriver.clone(),
                signatures: info.signatures.clone(),
                ca: info.ca.clone(),
            };
            // Each path is flushed on its own (not with a `syncfs`, which would
            // also wait for every other writer of the file system, once per
            // request); decompression runs ahead on its own thread.
            let imported = compress::with_read_ahead(nar, |r| s.store.import_nar(r, expected));
            let _ = std::fs::remove_file(&staged);
            // The next lookup must see the new path.
            s.index.lock().unwrap_or_else(|p| p.into_inner()).1 = None;
            match imported {
                Ok(_) => Ok(Ok(())),
                Err(e) => Ok(Err(bad(e.to_string()))),
            }
        },
    )
    .await;
    match res {
        Err(r) => r,
        Ok(Err(e)) => internal(e),
        Ok(Ok(Err((status, e)))) => text(status, format!("{e}\n")),
        Ok(Ok(Ok(()))) => text(StatusCode::OK, ""),
    }
}
