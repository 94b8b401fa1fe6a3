//! The `http(s)://` backend: GET/HEAD to read, PUT to upload (as Nix's
//! HTTP binary cache store does).
//!
//! Existence queries are batched: a b8g server answers
//! `POST <cache>/_b8g/exists` (file names one per line in, the present ones
//! out) in one round trip; for any other server the query falls back to HEAD
//! requests, several at a time. Requests that fail on the network or with a
//! 5xx status are retried a few times with a growing pause.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::Duration;

use super::rate_floor::{FloorReader, RateFloor};
use super::{BinaryCache, CacheError, CacheReader, Upload};

/// Path (under the cache URL) of the batched existence query a b8g server offers.
pub const EXISTS_ENDPOINT: &str = "_b8g/exists";
/// Path of the narinfo listing a b8g server offers (for `cache verify`).
pub const LIST_ENDPOINT: &str = "_b8g/narinfos";

/// Attempts per request before a transient failure is reported.
const ATTEMPTS: u32 = 3;
/// HEAD requests in flight at once when the server has no batch query.
// Existence checks of thousands of paths against a server without the batch
// endpoint (Nix issue 5118: 2 000 paths took 38 s at 8 at once).
const HEAD_PARALLELISM: usize = 32;
/// narinfo uploads in flight at once.
const PUT_PARALLELISM: usize = 8;

/// A cache reached over HTTP.
pub struct HttpCache {
    base: String,
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
    nar_floor: RateFloor,
}

impl HttpCache {
    /// `url` is the cache root; `token` is sent as `Authorization: Bearer` on uploads.
    pub fn new(url: &str, token: Option<String>) -> HttpCache {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // Between two reads of a response, not for the whole download.
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            // Keep-alive for every parallel worker, not one connection per host.
            .max_idle_connections_per_host(32)
            .build();
        HttpCache {
            base: url.trim_end_matches('/').to_owned(),
            url: url.to_owned(),
            token,
            agent,
            nar_floor: RateFloor::default(),
        }
    }

    /// Sets the least rate a NAR download must keep (see [`RateFloor`]).
    pub fn with_nar_floor(mut self, floor: RateFloor) -> HttpCache {
        self.nar_floor = floor;
        self
    }

    fn file_url(&self, file: &str) -> String {
        format!("{}/{}", self.base, file)
    }

    fn with_retries<T>(
        &self,
        op: &'static str,
        file: &str,
        req: impl FnMut() -> Result<T, Box<ureq::Error>>,
    ) -> Result<T, CacheError> {
        with_retries(&self.url, op, file, req)
    }

    fn exists_by_head(&self, files: &[String]) -> Result<BTreeSet<String>, CacheError> {
        exists_in_parallel(files, HEAD_PARALLELISM, |file| {
            match self.with_retries("HEAD", file, || {
                self.agent
                    .head(&self.file_url(file))
                    .call()
                    .map_err(Box::new)
            }) {
                Ok(_) => Ok(true),
                Err(CacheError::Status {
                    status: 404 | 403, ..
                }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }
}

/// The error of a request of cache `cache`.
pub(super) fn fail(cache: &str, op: &'static str, file: &str, e: ureq::Error) -> CacheError {
    match e {
        ureq::Error::Status(status, resp) => CacheError::Status {
            cache: cache.to_owned(),
            op,
            file: file.to_owned(),
            status,
            reason: short_reason(resp),
        },
        ureq::Error::Transport(t) => CacheError::Network {
            cache: cache.to_owned(),
            op,
            file: file.to_owned(),
            reason: t.to_string(),
        },
    }
}

/// Runs `req` until it succeeds, fails for good, or [`ATTEMPTS`] tries
/// failed on the network or with a 5xx status.
pub(super) fn with_retries<T>(
    cache: &str,
    op: &'static str,
    file: &str,
    mut req: impl FnMut() -> Result<T, Box<ureq::Error>>,
) -> Result<T, CacheError> {
    let mut attempt = 1;
    loop {
        match req() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let err = fail(cache, op, file, *e);
                if attempt >= ATTEMPTS || !err.is_transient() {
                    return Err(err);
                }
                tracing::warn!("{err}; retrying");
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt * attempt)));
                attempt += 1;
            }
        }
    }
}

/// Which of `files` exist, asking `exists` for `parallelism` of them at once.
pub(super) fn exists_in_parallel(
    files: &[String],
    parallelism: usize,
    exists: impl Fn(&str) -> Result<bool, CacheError> + Sync,
) -> Result<BTreeSet<String>, CacheError> {
    let next = Mutex::new(files.iter());
    let found = Mutex::new(BTreeSet::new());
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..parallelism.min(files.len()) {
            s.spawn(|| loop {
                let Some(file) = next.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                    return;
                };
                match exists(file) {
                    Ok(true) => {
                        found
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(file.clone());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(found.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Uploads each wave's files to `cache`, `parallelism` at once, a wave after
/// the one before.
pub(super) fn put_waves(
    cache: &(impl BinaryCache + ?Sized),
    waves: &[Vec<(String, Vec<u8>)>],
    parallelism: usize,
    content_type: &str,
) -> Result<(), CacheError> {
    let put = |file: &str, data: &[u8]| {
        cache.put(
            file,
            &mut std::io::Cursor::new(data),
            data.len() as u64,
            content_type,
        )
    };
    for wave in waves {
        let next = Mutex::new(wave.iter());
        let first_error = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..parallelism.min(wave.len()) {
                s.spawn(|| loop {
                    if first_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some()
                    {
                        return;
                    }
                    let Some((file, data)) = next.lock().unwrap_or_else(|p| p.into_inner()).next()
                    else {
                        return;
                    };
                    if let Err(e) = put(file, data) {
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
    }
    Ok(())
}

const METADATA_DEADLINE: Duration = Duration::from_secs(30);

impl BinaryCache for HttpCache {
    fn url(&self) -> &str {
        &self.url
    }

    fn get(&self, file: &str) -> Result<Option<CacheReader>, CacheError> {
        match self.with_retries("GET", file, || {
            let mut req = self.agent.get(&self.file_url(file));
            // Metadata is small: a server that trickles it (a byte every few
            // seconds keeps the read timeout happy) gets a deadline for the
            // whole answer. NARs are as large as their paths and have none;
            // they must keep a least rate instead.
            if !file.starts_with("nar/") {
                req = req.timeout(METADATA_DEADLINE);
            }
            req.call().map_err(Box::new)
        }) {
            Ok(resp) if file.starts_with("nar/") => Ok(Some(Box::new(FloorReader::new(
                resp.into_reader(),
                self.nar_floor,
            )))),
            Ok(resp) => Ok(Some(Box::new(resp.into_reader()))),
            // S3-style servers answer 403 for a missing key, as Nix knows too.
            Err(CacheError::Status {
                status: 404 | 403, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn which_exist(&self, files: &[String]) -> Result<BTreeSet<String>, CacheError> {
        if files.is_empty() {
            return Ok(BTreeSet::new());
        }
        let body = files.join("\n");
        let batch = self.with_retries("POST", EXISTS_ENDPOINT, || {
            let mut req = self
                .agent
                .post(&self.file_url(EXISTS_ENDPOINT))
                .set("Content-Type", "text/plain");
            // A b8g server tells only pushers which NARs they staged already.
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            req.send_string(&body).map_err(Box::new)
        });
        match batch {
            Ok(resp) => {
                let text = resp.into_string().map_err(|source| CacheError::Io {
                    cache: self.url.clone(),
                    op: "read",
                    file: EXISTS_ENDPOINT.to_owned(),
                    source,
                })?;
                let asked: BTreeSet<&str> = files.iter().map(String::as_str).collect();
                Ok(text
                    .lines()
                    .filter(|l| asked.contains(l))
                    .map(str::to_owned)
                    .collect())
            }
            // Not a b8g server: ask file by file.
            Err(CacheError::Status {
                status: 400..=499, ..
            }) => self.exists_by_head(files),
            Err(e) => Err(e),
        }
    }

    fn put(
        &self,
        file: &str,
        data: &mut dyn Upload,
        size: u64,
        content_type: &str,
    ) -> Result<(), CacheError> {
        self.with_retries("PUT", file, || {
            data.rewind().map_err(|e| Box::new(ureq::Error::from(e)))?;
            let mut req = self
                .agent
                .put(&self.file_url(file))
                .set("Content-Type", content_type)
                .set("Content-Length", &size.to_string());
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            req.send(&mut *data).map_err(Box::new)
        })?;
        Ok(())
    }

    fn put_all(
        &self,
        waves: &[Vec<(String, Vec<u8>)>],
        content_type: &str,
    ) -> Result<(), CacheError> {
        // A b8g server imports a path when its narinfo arrives: parallel
        // requests let it import several at once.
        put_waves(self, waves, PUT_PARALLELISM, content_type)
    }

    fn list_narinfos(&self) -> Result<Vec<String>, CacheError> {
        match self.with_retries("GET", LIST_ENDPOINT, || {
            self.agent
                .get(&self.file_url(LIST_ENDPOINT))
                .call()
                .map_err(Box::new)
        }) {
            Ok(resp) => {
                let text = resp.into_string().map_err(|source| CacheError::Io {
                    cache: self.url.clone(),
                    op: "read",
                    file: LIST_ENDPOINT.to_owned(),
                    source,
                })?;
                Ok(text
                    .lines()
                    .filter(|l| l.ends_with(".narinfo"))
                    .map(str::to_owned)
                    .collect())
            }
            Err(CacheError::Status { status: 404, .. }) => Err(CacheError::CannotList {
                cache: self.url.clone(),
                reason: "an HTTP cache has no listing unless it is served by `b8g cache serve`"
                    .into(),
            }),
            Err(e) => Err(e),
        }
    }
}

/// The first line of a plain-text error answer, at most [`REASON_LIMIT`]
/// bytes read and control characters dropped: the server is not trusted to
/// send a small or printable body.
fn short_reason(resp: ureq::Response) -> String {
    const REASON_LIMIT: u64 = 2048;
    let xml = resp.content_type().ends_with("/xml");
    if !resp.content_type().starts_with("text/plain") && !xml {
        return String::new();
    }
    let mut body = Vec::new();
    if resp
        .into_reader()
        .take(REASON_LIMIT)
        .read_to_end(&mut body)
        .is_err()
    {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body);
    if xml {
        // An S3 error: `<Error><Code>NoSuchBucket</Code><Message>…</Message>`.
        let field = |tag: &str| {
            let open = format!("<{tag}>");
            let start = text.find(&open)? + open.len();
            let len = text[start..].find('<')?;
            Some(text[start..start + len].to_owned())
        };
        return match (field("Code"), field("Message")) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            _ => String::new(),
        }
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    }
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}
