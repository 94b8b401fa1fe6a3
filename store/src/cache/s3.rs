//! The `s3://` backend: a binary cache in an S3 bucket, as Nix's S3 binary
//! cache store keeps it (`nix-cache-info`, `<hash>.narinfo`, `nar/…` as
//! objects of the same names).
//!
//! `s3://BUCKET?region=…&endpoint=…&scheme=…&profile=…`, with Nix's
//! parameters: `endpoint` is a host (`minio.example:9000`) or a URL, reached
//! with path-style requests; without it the bucket is AWS's, virtual-hosted.
//! Credentials come as the AWS tools find them: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the profile
//! (`profile=`, `AWS_PROFILE`, `default`) of the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`); with none the
//! bucket is read anonymously.
//!
//! Requests are presigned (SigV4 in the query, by `rusty-s3`) and sent with
//! the same HTTP client, retries and bounded parallelism as `http(s)://`.
//! Existence checks are HEAD requests, many at once, never a listing; files
//! of [`MULTIPART_THRESHOLD`] and more go up in parts.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::http::{exists_in_parallel, put_waves, with_retries};
use super::{BinaryCache, CacheError, CacheReader, Upload};

/// Uploads of this size and more use multipart upload.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;
/// The size of each part (S3's minimum is 5 MiB).
pub const PART_SIZE: u64 = 16 << 20;
/// The most narinfos a listing may return (about 60 MiB of names).
const MAX_LISTED: usize = 1 << 20;
/// HEAD requests at once for existence checks.
const HEAD_PARALLELISM: usize = 32;
/// Uploads at once.
const PUT_PARALLELISM: usize = 8;
/// How long a presigned request stays valid (a slow upload included).
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(3600);

/// Nix's S3 store parameters that change nothing here (compression is the
/// pusher's option; listings are not written).
const IGNORED_PARAMS: &[&str] = &[
    "compression",
    "narinfo-compression",
    "ls-compression",
    "log-compression",
    "multipart-upload",
    "buffer-size",
    "parallel-compression",
    "write-nar-listing",
    "secret-key",
    "want-mass-query",
    "priority",
    "trusted",
];

/// A bucket.
pub struct S3Cache {
    url: String,
    bucket: Bucket,
    credentials: Option<Credentials>,
    agent: ureq::Agent,
    /// Whether a GET of `nix-cache-info` went through (see `which_exist`).
    probed: std::sync::OnceLock<()>,
}

impl S3Cache {
    /// Opens `s3://BUCKET?…` (nothing is requested yet).
    pub fn new(url: &str) -> Result<S3Cache, CacheError> {
        let bad = |reason: String| CacheError::BadS3Url {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("not s3://".into()))?;
        let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
        let name = name.trim_end_matches('/');
        if name.is_empty() || name.contains('/') {
            return Err(bad("expected s3://BUCKET".into()));
        }
        let mut region = "us-east-1".to_owned();
        let mut endpoint = None;
        let mut scheme = "https".to_owned();
        let mut profile = None;
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k {
                "region" => region = v.to_owned(),
                "endpoint" => endpoint = Some(v.to_owned()),
                "scheme" => scheme = v.to_owned(),
                "profile" => profile = Some(v.to_owned()),
                k if IGNORED_PARAMS.contains(&k) => {}
                k => return Err(bad(format!("unknown parameter {k:?}"))),
            }
        }
        if scheme != "http" && scheme != "https" {
            return Err(bad(format!("scheme {scheme:?} is neither http nor https")));
        }
        let (base, style) = match endpoint {
            Some(e) if e.contains("://") => (e, UrlStyle::Path),
            Some(e) => (format!("{scheme}://{e}"), UrlStyle::Path),
            None => (
                format!("https://s3.{region}.amazonaws.com"),
                UrlStyle::VirtualHost,
            ),
        };
        let base = base
            .parse()
            .map_err(|e| bad(format!("endpoint {base:?}: {e}")))?;
        let bucket =
            Bucket::new(base, style, name.to_owned(), region).map_err(|e| bad(e.to_string()))?;
        let credentials = credentials(profile.as_deref()).map_err(bad)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            .max_idle_connections_per_host(HEAD_PARALLELISM)
            .build();
        Ok(S3Cache {
            url: url.to_owned(),
            bucket,
            credentials,
            agent,
            probed: std::sync::OnceLock::new(),
        })
    }

    fn creds(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Adds why a refusal may be ours: no credentials were found.
    fn explain(&self, e: CacheError) -> CacheError {
        match e {
            CacheError::Status {
                cache,
                op,
                file,
                status: status @ 403,
                reason,
            } if self.credentials.is_none() => CacheError::Status {
                cache,
                op,
                file,
                status,
                reason: format!(
                    "{reason} (no AWS credentials were found: set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or name a profile of ~/.aws/credentials with ?profile=)"
                ),
            },
            e => e,
        }
    }

    fn read_text(&self, resp: ureq::Response, file: &str) -> Result<String, CacheError> {
        let mut text = String::new();
        resp.into_reader()
            .take(super::METADATA_LIMIT)
            .read_to_string(&mut text)
            .map_err(|source| CacheError::Io {
                cache: self.url.clone(),
                op: "read",
                file: file.to_owned(),
                source,
            })?;
        Ok(text)
    }

    fn bad_answer(&self, op: &'static str, file: &str, reason: String) -> CacheError {
        CacheError::Network {
            cache: self.url.clone(),
            op,
            file: file.to_owned(),
            reason,
        }
    }

    /// Uploads in parts: create, each part with its ETag, complete (or abort).
    fn put_multipart(
        &self,
        file: &str,
        data: &mut dyn Upload,
        size: u64,
        content_type: &str,
    ) -> Result<(), CacheError> {
        let create = self.bucket.create_multipart_upload(self.creds(), file);
        let url = create.sign(SIGNATURE_LIFETIME);
        let resp = with_retries(&self.url, "start upload of", file, || {
            self.agent
                .post(url.as_str())
                .set("Content-Type", content_type)
                .call()
                .map_err(Box::new)
        })?;
        let text = self.read_text(resp, file)?;
        let created = CreateMultipartUpload::parse_response(&text)
            .map_err(|e| self.bad_answer("start upload of", file, e.to_string()))?;
        let upload_id = created.upload_id().to_owned();
        tracing::debug!(file, size, "multipart upload");
        let result = self.upload_parts(file, data, size, &upload_id);
        if result.is_err() {
            let abort = self
                .bucket
                .abort_multipart_upload(self.creds(), file, &upload_id);
            let _ = self
                .agent
                .delete(abort.sign(SIGNATURE_LIFETIME).as_str())
                .call();
        }
        result
    }

    fn upload_parts(
        &self,
        file: &str,
        data: &mut dyn Upload,
        size: u64,
        upload_id: &str,
    ) -> Result<(), CacheError> {
        let io_err = |source| CacheError::Io {
            cache: self.url.clone(),
            op: "read upload of",
            file: file.to_owned(),
            source,
        };
        data.rewind().map_err(io_err)?;
        let mut etags = Vec::new();
        let mut sent = 0u64;
        let mut number: u16 = 1;
        while sent < size {
            let len = PART_SIZE.min(size - sent);
            let mut part = Vec::with_capacity(len as usize);
            (&mut *data)
                .take(len)
                .read_to_end(&mut part)
                .map_err(io_err)?;
            if part.len() as u64 != len {
                return Err(io_err(std::io::ErrorKind::UnexpectedEof.into()));
            }
            let action = self
                .bucket
                .upload_part(self.creds(), file, number, upload_id);
            let url = action.sign(SIGNATURE_LIFETIME);
            let resp = with_retries(&self.url, "upload part of", file, || {
                self.agent
                    .put(url.as_str())
                    .set("Content-Length", &len.to_string())
                    .send_bytes(&part)
                    .map_err(Box::new)
            })?;
            let etag = resp
                .header("ETag")
                .ok_or_else(|| {
                    self.bad_answer("upload part of", file, "the answer has no ETag".into())
                })?
                .to_owned();
            etags.push(etag);
            sent += len;
            number = number
                .checked_add(1)
                .ok_or_else(|| self.bad_answer("upload", file, "more than 65535 parts".into()))?;
        }
        let complete = self.bucket.complete_multipart_upload(
            self.creds(),
            file,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNATURE_LIFETIME);
        let body = complete.body();
        with_retries(&self.url, "complete upload of", file, || {
            self.agent
                .post(url.as_str())
                .send_string(&body)
                .map_err(Box::new)
        })?;
        Ok(())
    }
}

/// Credentials from the environment, else from a profile of the shared
/// credentials file; `None` for anonymous access.
fn credentials(profile: Option<&str>) -> Result<Option<Credentials>, String> {
    if profile.is_none() {
        if let Some(c) = Credentials::from_env() {
            return Ok(Some(c));
        }
    }
    let name = profile
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".into());
    let file = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(f) => std::path::PathBuf::from(f),
        None => match std::env::var_os("HOME") {
            Some(h) => std::path::Path::new(&h).join(".aws/credentials"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        // No file: anonymous, unless a profile was asked for by name.
        Err(_) if profile.is_none() => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let ini = ini::Ini::load_from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let Some(section) = ini.section(Some(name.as_str())) else {
        return match profile {
            Some(p) => Err(format!("{} has no profile [{p}]", file.display())),
            None => Ok(None),
        };
    };
    let (Some(key), Some(secret)) = (
        section.get("aws_access_key_id"),
        section.get("aws_secret_access_key"),
    ) else {
        return Err(format!(
            "profile [{name}] of {} lacks aws_access_key_id or aws_secret_access_key",
            file.display()
        ));
    };
    Ok(Some(match section.get("aws_session_token") {
        Some(t) => Credentials::new_with_token(key, secret, t),
        None => Credentials::new(key, secret),
    }))
}

impl BinaryCache for S3Cache {
    fn url(&self) -> &str {
        &self.url
    }

    fn get(&self, file: &str) -> Result<Option<CacheReader>, CacheError> {
        let url = self
            .bucket
            .get_object(self.creds(), file)
            .sign(SIGNATURE_LIFETIME);
        match with_retries(&self.url, "GET", file, || {
            self.agent.get(url.as_str()).call().map_err(Box::new)
        }) {
            Ok(resp) => Ok(Some(Box::new(resp.into_reader()))),
            // S3 answers 403 for a missing key when listing is not allowed.
            Err(CacheError::Status {
                status: 404 | 403,
                ref reason,
                ..
            }) if !reason.starts_with("SignatureDoesNotMatch")
                && !reason.starts_with("InvalidAccessKeyId") =>
            {
                Ok(None)
            }
            Err(e) => Err(self.explain(e)),
        }
    }

    fn which_exist(&self, files: &[String]) -> Result<BTreeSet<String>, CacheError> {
        // S3 answers a HEAD it refuses (a wrong secret) with a bare 403, the
        // same as a missing key: one GET first, whose error body tells them
        // apart, so bad credentials fail instead of reading as "absent".
        if self.probed.get().is_none() {
            self.get(super::CACHE_INFO_FILE)?;
            let _ = self.probed.set(());
        }
        exists_in_parallel(files, HEAD_PARALLELISM, |file| {
            let url = self
                .bucket
                .head_object(self.creds(), file)
                .sign(SIGNATURE_LIFETIME);
            match with_retries(&self.url, "HEAD", file, || {
                self.agent.head(url.as_str()).call().map_err(Box::new)
            }) {
                Ok(_) => Ok(true),
                Err(CacheError::Status {
                    status: 404 | 403, ..
                }) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn put(
        &self,
        file: &str,
        data: &mut dyn Upload,
        size: u64,
        content_type: &str,
    ) -> Result<(), CacheError> {
        if size >= MULTIPART_THRESHOLD {
            return self.put_multipart(file, data, size, content_type);
        }
        let url = self
            .bucket
            .put_object(self.creds(), file)
            .sign(SIGNATURE_LIFETIME);
        with_retries(&self.url, "PUT", file, || {
            data.rewind().map_err(|e| Box::new(ureq::Error::from(e)))?;
            self.agent
                .put(url.as_str())
                .set("Content-Type", content_type)
                .set("Content-Length", &size.to_string())
                .send(&mut *data)
                .map_err(Box::new)
        })
        .map_err(|e| self.explain(e))?;
        Ok(())
    }

    fn put_all(
        &self,
        waves: &[Vec<(String, Vec<u8>)>],
        content_type: &str,
    ) -> Result<(), CacheError> {
        put_waves(self, waves, PUT_PARALLELISM, content_type)
    }

    fn list_narinfos(&self) -> Result<Vec<String>, CacheError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut list = self.bucket.list_objects_v2(self.creds());
            // Top-level keys only: the narinfos, not `nar/…`.
            list.with_delimiter("/");
            if let Some(t) = &token {
                list.with_continuation_token(t.clone());
            }
            let url = list.sign(SIGNATURE_LIFETIME);
            let resp = with_retries(&self.url, "list", "", || {
                self.agent.get(url.as_str()).call().map_err(Box::new)
            })?;
            let text = self.read_text(resp, "(listing)")?;
            let page = ListObjectsV2::parse_response(&text)
                .map_err(|e| self.bad_answer("list", "", e.to_string()))?;
            out.extend(
                page.contents
                    .into_iter()
                    .map(|c| c.key)
                    .filter(|k| k.ends_with(".narinfo")),
            );
            // A bucket (or a server) that pages without end: a bound.
            if out.len() > MAX_LISTED {
                return Err(self.bad_answer(
                    "list",
                    "",
                    format!("more than {MAX_LISTED} narinfos listed"),
                ));
            }
            match page.next_continuation_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}
