//! The shim's configuration: `/etc/b8g-unikernel.conf`, written by the
//! unikernel recipe and the `b8g-unikernel` builder.
//!
//! One `key=value` per line; in values `\n` stands for a newline and `\\` for a
//! backslash, so any string fits on one line. Repeated keys (`arg`, `env`,
//! `module`) keep their order. Empty lines and lines starting with `#` are skipped.

use std::fmt;

/// Where the recipe puts the configuration inside the initramfs.
pub const PATH: &str = "/etc/b8g-unikernel.conf";

/// A static IPv4 address for one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub interface: String,
    pub address: [u8; 4],
    pub prefix: u8,
    pub gateway: Option<[u8; 4]>,
}

/// Everything the shim does, in the order it does it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Kernel modules to load, in order (dependencies first), as paths in the initramfs.
    pub modules: Vec<String>,
    pub network: Option<Network>,
    /// The program to run (absolute path).
    pub app: String,
    /// Its arguments, after argv[0] (which is `app`).
    pub args: Vec<String>,
    /// Its whole environment, `NAME=VALUE`.
    pub env: Vec<String>,
    /// Its working directory (`/` when not given).
    pub cwd: String,
}

/// A configuration the shim cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PATH} line {}: {}", self.line, self.why)
    }
}

impl std::error::Error for ConfigError {}

fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

/// The escaping [`Config::parse`] undoes (used by tests and writers in Rust).
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn ipv4(s: &str) -> Result<[u8; 4], String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(format!("{s:?} is not an IPv4 address"));
    }
    let mut a = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        a[i] = p
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 address"))?;
    }
    Ok(a)
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config {
            cwd: "/".into(),
            ..Config::default()
        };
        let mut iface = None;
        let mut addr = None;
        let mut gateway = None;
        for (i, raw) in text.lines().enumerate() {
            let err = |why: String| ConfigError { line: i + 1, why };
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let (key, value) = raw
                .split_once('=')
                .ok_or_else(|| err("expected key=value".into()))?;
            let value = unescape(value).map_err(err)?;
            match key {
                "app" => c.app = value,
                "arg" => c.args.push(value),
                "env" => {
                    if !value.contains('=') {
                        return Err(err(format!("env {value:?} is not NAME=VALUE")));
                    }
                    c.env.push(value)
                }
                "cwd" => c.cwd = value,
                "module" => c.modules.push(value),
                "net.interface" => iface = Some(value),
                "net.address" => {
                    let (a, p) = value
                        .split_once('/')
                        .ok_or_else(|| err(format!("address {value:?} lacks /PREFIX")))?;
                    let prefix: u8 = p
                        .parse()
                        .ok()
                        .filter(|p| *p <= 32)
                        .ok_or_else(|| err(format!("bad prefix length in {value:?}")))?;
                    addr = Some((ipv4(a).map_err(err)?, prefix));
                }
                "net.gateway" => gateway = Some(ipv4(&value).map_err(err)?),
                _ => return Err(err(format!("unknown key {key:?}"))),
            }
        }
        if c.app.is_empty() {
            return Err(ConfigError {
                line: 0,
                why: "no app= line".into(),
            });
        }
        if let Some((address, prefix)) = addr {
            c.network = Some(Network {
                interface: iface.unwrap_or_else(|| "eth0".into()),
                address,
                prefix,
                gateway,
            });
        } else if gateway.is_some() {
            return Err(ConfigError {
                line: 0,
                why: "net.gateway without net.address".into(),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_order_with_escapes() {
        let text = format!(
            "# made by the recipe\napp=/s/bin/app\narg=-c\narg={}\nenv=A=1\nenv=B=x=y\nmodule=/lib/modules/a.ko\nmodule=/lib/modules/b.ko\nnet.address=10.0.2.15/24\nnet.gateway=10.0.2.2\n",
            escape("echo a\\b\nexit 3")
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.app, "/s/bin/app");
        assert_eq!(c.args, ["-c", "echo a\\b\nexit 3"]);
        assert_eq!(c.env, ["A=1", "B=x=y"]);
        assert_eq!(c.modules, ["/lib/modules/a.ko", "/lib/modules/b.ko"]);
        assert_eq!(c.cwd, "/");
        assert_eq!(
            c.network,
            Some(Network {
                interface: "eth0".into(),
                address: [10, 0, 2, 15],
                prefix: 24,
                gateway: Some([10, 0, 2, 2]),
            })
        );
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert_eq!(Config::parse("arg=x\n").unwrap_err().line, 0);
        assert_eq!(Config::parse("app=/a\nfoo=1\n").unwrap_err().line, 2);
        assert!(Config::parse("app=/a\nnet.address=10.0.2.15\n").is_err());
        assert!(Config::parse("app=/a\nnet.address=10.0.2/24\n").is_err());
        assert!(Config::parse("app=/a\narg=\\q\n").is_err());
        assert!(Config::parse("app=/a\nenv=NOVALUE\n").is_err());
        assert!(Config::parse("app=/a\nnet.gateway=10.0.2.2\n").is_err());
    }
}
