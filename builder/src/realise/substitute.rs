//! The substituters of a realisation: binary caches and the keys trusted to
//! sign what they serve, from the command line or a `nix.conf`-style file.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use b8g_store::cache::{self, BinaryCache, CacheError, SubstituteError};
use b8g_store::format::signing::{KeyError, PublicKey};
use b8g_store::format::store_path::{StoreDir, StorePath};
use b8g_store::local::LocalStore;

/// Caches to fetch from and the keys whose signatures are accepted.
#[derive(Clone, Default)]
pub struct Substituters {
    caches: Vec<Arc<dyn BinaryCache>>,
    trusted_keys: Vec<PublicKey>,
}

impl fmt::Debug for Substituters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Substituters")
            .field(
                "caches",
                &self.caches.iter().map(|c| c.url()).collect::<Vec<_>>(),
            )
            .field(
                "trusted_keys",
                &self
                    .trusted_keys
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why the substituters could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SubstitutersError {
    /// A cache URL could not be opened.
    #[error("substituter {url}: {source}")]
    Cache {
        /// The URL.
        url: String,
        /// Why.
        source: Box<CacheError>,
    },
    /// A trusted key is malformed.
    #[error("bad trusted public key {key:?}")]
    Key {
        /// The key text.
        key: String,
        /// Why.
        source: KeyError,
    },
}

/// Why fetching a derivation's outputs failed.
pub(crate) enum Failure {
    /// The caches answered but delivering failed (network, bad NAR): build instead.
    Retryable(String),
    /// The local store failed.
    Fatal(Box<SubstituteError>),
}

/// `substituters` and `trusted-public-keys` settings of a `nix.conf`-style
/// text: `name = value words` lines, `#` comments. Other settings are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubstituterSettings {
    /// Cache URLs.
    pub substituters: Vec<String>,
    /// `name:base64` public keys.
    pub trusted_public_keys: Vec<String>,
}

impl SubstituterSettings {
    /// Parses the settings (later lines replace earlier ones; `extra-`
    /// variants append, as in Nix).
    pub fn parse(text: &str) -> SubstituterSettings {
        let mut s = SubstituterSettings::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
            match name.trim() {
                "substituters" => s.substituters = words,
                "extra-substituters" => s.substituters.extend(words),
                "trusted-public-keys" => s.trusted_public_keys = words,
                "extra-trusted-public-keys" => s.trusted_public_keys.extend(words),
                _ => {}
            }
        }
        s
    }
}

impl Substituters {
    /// Opens the caches at `urls` (`file://`, `http(s)://`) trusting `keys`
    /// (`name:base64`, or files holding one).
    pub fn open(urls: &[String], keys: &[String]) -> Result<Self, SubstitutersError> {
        let mut caches: Vec<Arc<dyn BinaryCache>> = Vec::new();
        for url in urls {
            let c = cache::open(url, None).map_err(|source| SubstitutersError::Cache {
                url: url.clone(),
                source: Box::new(source),
            })?;
            caches.push(Arc::from(c));
        }
        let trusted_keys = keys
            .iter()
            .map(|k| {
                // A key literally, or a file holding one (as `b8g cache` takes them).
                let text = match std::fs::read_to_string(k) {
                    Ok(t) if PublicKey::parse(k).is_err() => t.trim().to_owned(),
                    _ => k.clone(),
                };
                PublicKey::parse(&text).map_err(|source| SubstitutersError::Key {
                    key: k.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Substituters {
            caches,
            trusted_keys,
        })
    }

    /// Caches already opened.
    pub fn new(caches: Vec<Arc<dyn BinaryCache>>, trusted_keys: Vec<PublicKey>) -> Self {
        Substituters {
            caches,
            trusted_keys,
        }
    }

    /// No caches: everything is built.
    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// Fetches `paths` with their closures if the caches can provide all of
    /// them: `Ok(Some(newly valid paths))`, or `Ok(None)` when some path is
    /// not available (signed by a trusted key) anywhere and nothing was fetched.
    pub(crate) fn fetch(
        &self,
        store: &LocalStore,
        paths: &[StorePath],
    ) -> Result<Option<Vec<(StorePath, String)>>, Failure> {
        match cache::substitute(paths, &self.caches, &self.trusted_keys, store) {
            Ok(report) => Ok(Some(report.substituted)),
            // Absent everywhere: build, quietly. Refused somewhere (an
            // untrusted signature, a 403, a network fault): build, but say why,
            // as a misconfigured cache is worth knowing of.
            Err(SubstituteError::Unavailable { reasons, .. })
                if reasons.iter().all(|r| {
                    r.ends_with(": does not have it") || r.contains("no substituters")
                }) =>
            {
                Ok(None)
            }
            Err(e @ SubstituteError::Unavailable { .. }) => Err(Failure::Retryable(e.to_string())),
            Err(e @ SubstituteError::Fetch { .. }) => Err(Failure::Retryable(e.to_string())),
            Err(e) => Err(Failure::Fatal(Box::new(e))),
        }
    }

    /// Which of `paths` some cache has a narinfo for, signed by a trusted key,
    /// with what `query_substitutable` reports for it (the NARs are not fetched).
    pub fn which_have(
        &self,
        store_dir: &StoreDir,
        paths: &[StorePath],
    ) -> BTreeMap<StorePath, String> {
        cache::query_substitutable(store_dir, paths, &self.caches, &self.trusted_keys)
    }

    /// Whether some cache has a narinfo for each of `paths` signed by a
    /// trusted key (the NARs themselves are not fetched or checked).
    pub(crate) fn has_all(&self, store: &LocalStore, paths: &[StorePath]) -> bool {
        let found =
            cache::query_substitutable(store.store_dir(), paths, &self.caches, &self.trusted_keys);
        paths.iter().all(|p| found.contains_key(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nix_conf_lines() {
        let s = SubstituterSettings::parse(
            "# comment\nsubstituters = file:///a http://b  # trailing\n\
             trusted-public-keys = k1:AAAA\nextra-trusted-public-keys = k2:BBBB\nsandbox = true\n",
        );
        assert_eq!(s.substituters, ["file:///a", "http://b"]);
        assert_eq!(s.trusted_public_keys, ["k1:AAAA", "k2:BBBB"]);
    }
}
