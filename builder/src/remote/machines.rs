//! Remote build machines in Nix's format (`--builders`, `/etc/nix/machines`):
//! one machine per line or `;`-separated entry, fields separated by spaces,
//! `-` or a missing field meaning the default:
//!
//! `URI [SYSTEMS [SSH-KEY [MAX-JOBS [SPEED-FACTOR [SUPPORTED-FEATURES [MANDATORY-FEATURES [HOST-KEY]]]]]]]`
//!
//! `SYSTEMS` and the feature lists are comma-separated; `HOST-KEY` is the
//! base64 of the machine's public host key line. `@FILE` reads entries from a
//! file; `#` starts a comment. Store URI parameters Nix's `ssh://` store takes
//! are honoured: `remote-program`, `remote-store`, `ssh-key`,
//! `base64-ssh-public-host-key`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One remote machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// The URI as written (for messages).
    pub uri: String,
    /// `user@host` or `host`, as ssh takes it.
    pub host: String,
    /// Platforms it builds for (`x86_64-linux`).
    pub systems: Vec<String>,
    /// Private key to log in with.
    pub ssh_key: Option<PathBuf>,
    /// Builds at once.
    pub max_jobs: usize,
    /// Relative speed; higher is preferred.
    pub speed_factor: f64,
    /// Features it offers (`kvm`, `big-parallel`).
    pub supported_features: BTreeSet<String>,
    /// Features a derivation must ask for to be built there.
    pub mandatory_features: BTreeSet<String>,
    /// The host's public key line (`ssh-ed25519 AAAA…`), pinned.
    pub host_key: Option<String>,
    /// The program run remotely (`nix-store`, or `b8g store serve --stdio`).
    pub remote_program: String,
    /// `--store URI` passed to it.
    pub remote_store: Option<String>,
}

/// Why a machine specification cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MachinesError {
    /// A field is malformed.
    #[error("builder {entry:?}: {reason}")]
    Bad {
        /// The entry as written.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// An `@FILE` could not be read.
    #[error("cannot read machines file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a source: shown once).
        error: std::io::Error,
    },
}

/// Parses a `--builders` value (entries separated by `;` or newlines, `@FILE`
/// entries read from files). `default_system` is the local platform.
pub fn parse_machines(spec: &str, default_system: &str) -> Result<Vec<Machine>, MachinesError> {
    let mut out = Vec::new();
    for entry in spec.split([';', '\n']) {
        let entry = entry.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if let Some(file) = entry.strip_prefix('@') {
            let path = Path::new(file.trim());
            let text = std::fs::read_to_string(path).map_err(|error| MachinesError::Read {
                path: path.to_owned(),
                error,
            })?;
            for line in text.lines() {
                // A file's entries are lines; `@` inside a file is not followed.
                let line = line.split('#').next().unwrap_or("").trim();
                if !line.is_empty() && !line.starts_with('@') {
                    out.push(parse_entry(line, default_system)?);
                }
            }
            continue;
        }
        out.push(parse_entry(entry, default_system)?);
    }
    Ok(out)
}

fn parse_entry(entry: &str, default_system: &str) -> Result<Machine, MachinesError> {
    let bad = |reason: String| MachinesError::Bad {
        entry: entry.to_owned(),
        reason,
    };
    let fields: Vec<&str> = entry.split_whitespace().collect();
    let field = |i: usize| fields.get(i).copied().filter(|f| *f != "-");
    let list = |i: usize| -> Vec<String> {
        field(i)
            .map(|f| {
                f.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let uri = fields[0];
    let (scheme, rest) = match uri.split_once("://") {
        Some((s, r)) => (s, r),
        // Nix takes a bare host as `ssh://host`.
        None => ("ssh", uri),
    };
    if scheme != "ssh" {
        return Err(bad(format!(
            "only ssh:// builders are supported (ssh-ng:// is not yet), not {scheme}://"
        )));
    }
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
        return Err(bad(format!("{host:?} is not a host name")));
    }
    let mut m = Machine {
        uri: uri.to_owned(),
        host: host.to_owned(),
        systems: list(1),
        ssh_key: field(2).map(PathBuf::from),
        max_jobs: match field(3) {
            None => 1,
            Some(n) => n
                .parse()
                .map_err(|_| bad(format!("max jobs {n:?} is not a number")))?,
        },
        speed_factor: match field(4) {
            None => 1.0,
            Some(n) => n
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f > 0.0)
                .ok_or_else(|| bad(format!("speed factor {n:?} is not a positive number")))?,
        },
        supported_features: list(5).into_iter().collect(),
        mandatory_features: list(6).into_iter().collect(),
        host_key: match field(7) {
            None => None,
            Some(b64) => Some(decode_host_key(b64).map_err(bad)?),
        },
        remote_program: "nix-store".into(),
        remote_store: None,
    };
    if m.systems.is_empty() {
        m.systems.push(default_system.to_owned());
    }
    // Mandatory features are supported by definition (as in Nix).
    m.supported_features
        .extend(m.mandatory_features.iter().cloned());
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        let v = percent_decode(v).map_err(|e| bad(format!("parameter {k}: {e}")))?;
        match k {
            "remote-program" => m.remote_program = v,
            "remote-store" => m.remote_store = Some(v),
            "ssh-key" => m.ssh_key = Some(PathBuf::from(v)),
            "base64-ssh-public-host-key" => m.host_key = Some(decode_host_key(&v).map_err(bad)?),
            // Accepted for compatibility; they change nothing here.
            "max-connections" | "compress" | "log-fd" => {}
            _ => return Err(bad(format!("unknown store parameter {k:?}"))),
        }
    }
    Ok(m)
}

fn decode_host_key(b64: &str) -> Result<String, String> {
    let bytes = data_encoding::BASE64
        .decode(b64.as_bytes())
        .map_err(|e| format!("host key is not base64: {e}"))?;
    let line = String::from_utf8(bytes).map_err(|_| "host key is not text".to_owned())?;
    let line = line.trim().to_owned();
    if line.contains('\n') || line.split_whitespace().count() < 2 {
        return Err("host key must be one `TYPE BASE64` line".into());
    }
    Ok(line)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape %{hex}"))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".into())
}

impl Machine {
    /// `URI (systems, max jobs, supported and mandatory features)` for messages.
    pub fn describe(&self) -> String {
        let list = |f: &BTreeSet<String>| {
            if f.is_empty() {
                "-".to_owned()
            } else {
                f.iter().cloned().collect::<Vec<_>>().join(",")
            }
        };
        format!(
            "{} (systems {}, max jobs {}, features {}, mandatory {})",
            self.uri,
            self.systems.join(","),
            self.max_jobs,
            list(&self.supported_features),
            list(&self.mandatory_features)
        )
    }

    /// Whether it may build a derivation for `system` that requires
    /// `features` (Nix's rule: every required feature supported, every
    /// mandatory feature required).
    pub fn accepts(&self, system: &str, features: &BTreeSet<String>) -> bool {
        (self.systems.iter().any(|s| s == system) || system == "builtin")
            && features.is_subset(&self.supported_features)
            && self.mandatory_features.is_subset(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_machine_lines_parse_with_defaults_and_parameters() {
        let key = data_encoding::BASE64.encode(b"ssh-ed25519 AAAAC3Nza host\n");
        let spec = format!(
            "ssh://alice@b1 x86_64-linux,i686-linux /k 4 2.5 kvm,big-parallel kvm {key}; \
             b2 - - - - - - -\n# comment\n\
             ssh://root@b3?remote-program=b8g%20store%20serve%20--stdio&remote-store=/s"
        );
        let ms = parse_machines(&spec, "x86_64-linux").unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0].host, "alice@b1");
        assert_eq!(ms[0].systems, ["x86_64-linux", "i686-linux"]);
        assert_eq!(ms[0].ssh_key.as_deref(), Some(Path::new("/k")));
        assert_eq!(ms[0].max_jobs, 4);
        assert_eq!(ms[0].speed_factor, 2.5);
        assert_eq!(
            ms[0].host_key.as_deref(),
            Some("ssh-ed25519 AAAAC3Nza host")
        );
        assert_eq!(ms[1].host, "b2");
        assert_eq!(ms[1].systems, ["x86_64-linux"]);
        assert_eq!(ms[1].max_jobs, 1);
        assert_eq!(ms[2].remote_program, "b8g store serve --stdio");
        assert_eq!(ms[2].remote_store.as_deref(), Some("/s"));
        let kvm: BTreeSet<String> = ["kvm".to_owned()].into();
        // Mandatory kvm: only derivations asking for it.
        assert!(ms[0].accepts("x86_64-linux", &kvm));
        assert!(!ms[0].accepts("x86_64-linux", &BTreeSet::new()));
        assert!(!ms[1].accepts("x86_64-linux", &kvm));
        assert!(ms[1].accepts("x86_64-linux", &BTreeSet::new()));
        assert!(!ms[1].accepts("aarch64-linux", &BTreeSet::new()));
    }

    #[test]
    fn bad_entries_name_themselves() {
        for (spec, want) in [
            ("ssh-ng://h", "ssh-ng"),
            ("ssh://h x86_64-linux - many", "max jobs"),
            ("ssh://h x86_64-linux - 1 0", "speed factor"),
            ("ssh://-oProxyCommand=x", "host name"),
            ("ssh://h?frob=1", "frob"),
        ] {
            let e = parse_machines(spec, "x86_64-linux")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
