//! The shim's configuration: `/etc/b8g-unikernel.conf` in the image, written
//! by `recipes/unikernel` (the `config` attribute) and the `b8g-unikernel`
//! builder (which appends the `module=` lines), read by the shim.
//!
//! One `key=value` per line, values escaped as in [`super::escape`]. Repeated
//! keys (`arg`, `env`, `module`) keep their order. Empty lines and lines
//! starting with `#` are skipped.

use std::fmt;

use super::{escape, unescape, EscapeError};

/// Where the configuration is in the image (absolute, as the shim opens it).
pub const PATH: &str = "/etc/b8g-unikernel.conf";

pub const APP: &str = "app";
pub const ARG: &str = "arg";
pub const ENV: &str = "env";
pub const CWD: &str = "cwd";
pub const MODULE: &str = "module";
pub const NET_INTERFACE: &str = "net.interface";
pub const NET_ADDRESS: &str = "net.address";
pub const NET_GATEWAY: &str = "net.gateway";

/// One configuration line: `key=<escaped value>\n`.
pub fn line(key: &str, value: &str) -> String {
    format!("{key}={}\n", escape(value))
}

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

/// A configuration the shim cannot use: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based; 0 for what is missing from the whole file.
    pub line: usize,
    pub fault: ConfigFault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFault {
    NotKeyValue,
    Escape(EscapeError),
    UnknownKey(String),
    EnvNotNameValue(String),
    AddressWithoutPrefix(String),
    BadPrefix(String),
    NotIpv4(String),
    NoApp,
    GatewayWithoutAddress,
}

impl fmt::Display for ConfigFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFault::NotKeyValue => write!(f, "expected key=value"),
            ConfigFault::Escape(e) => write!(f, "{e}"),
            ConfigFault::UnknownKey(k) => write!(f, "unknown key {k:?}"),
            ConfigFault::EnvNotNameValue(v) => write!(f, "env {v:?} is not NAME=VALUE"),
            ConfigFault::AddressWithoutPrefix(v) => write!(f, "address {v:?} lacks /PREFIX"),
            ConfigFault::BadPrefix(v) => write!(f, "bad prefix length in {v:?}"),
            ConfigFault::NotIpv4(s) => write!(f, "{s:?} is not an IPv4 address"),
            ConfigFault::NoApp => write!(f, "no {APP}= line"),
            ConfigFault::GatewayWithoutAddress => {
                write!(f, "{NET_GATEWAY} without {NET_ADDRESS}")
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PATH} line {}: {}", self.line, self.fault)
    }
}

impl std::error::Error for ConfigError {}

fn ipv4(s: &str) -> Result<[u8; 4], ConfigFault> {
    let bad = || ConfigFault::NotIpv4(s.to_string());
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(bad());
    }
    let mut a = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        a[i] = p.parse().map_err(|_| bad())?;
    }
    Ok(a)
}

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
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
            let err = |fault| ConfigError { line: i + 1, fault };
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let (key, value) = raw
                .split_once('=')
                .ok_or_else(|| err(ConfigFault::NotKeyValue))?;
            let value = unescape(value).map_err(|e| err(ConfigFault::Escape(e)))?;
            match key {
                APP => c.app = value,
                ARG => c.args.push(value),
                ENV => {
                    if !value.contains('=') {
                        return Err(err(ConfigFault::EnvNotNameValue(value)));
                    }
                    c.env.push(value)
                }
                CWD => c.cwd = value,
                MODULE => c.modules.push(value),
                NET_INTERFACE => iface = Some(value),
                NET_ADDRESS => {
                    let (a, p) = value
                        .split_once('/')
                        .ok_or_else(|| err(ConfigFault::AddressWithoutPrefix(value.clone())))?;
                    let prefix: u8 = p
                        .parse()
                        .ok()
                        .filter(|p| *p <= 32)
                        .ok_or_else(|| err(ConfigFault::BadPrefix(value.clone())))?;
                    addr = Some((ipv4(a).map_err(err)?, prefix));
                }
                NET_GATEWAY => gateway = Some(ipv4(&value).map_err(err)?),
                _ => return Err(err(ConfigFault::UnknownKey(key.to_string()))),
            }
        }
        if c.app.is_empty() {
            return Err(ConfigError {
                line: 0,
                fault: ConfigFault::NoApp,
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
                fault: ConfigFault::GatewayWithoutAddress,
            });
        }
        Ok(c)
    }

    /// The lines [`Config::parse`] reads back as `self`, in the recipe's order
    /// (`app`, `arg`, `env`, `cwd` unless `/`, the network) with the modules last,
    /// where the builder appends them.
    pub fn render(&self) -> String {
        let mut text = line(APP, &self.app);
        for a in &self.args {
            text.push_str(&line(ARG, a));
        }
        for e in &self.env {
            text.push_str(&line(ENV, e));
        }
        if self.cwd != "/" {
            text.push_str(&line(CWD, &self.cwd));
        }
        if let Some(n) = &self.network {
            text.push_str(&line(NET_INTERFACE, &n.interface));
            let address = format!("{}/{}", dotted(n.address), n.prefix);
            text.push_str(&line(NET_ADDRESS, &address));
            if let Some(g) = n.gateway {
                text.push_str(&line(NET_GATEWAY, &dotted(g)));
            }
        }
        for m in &self.modules {
            text.push_str(&line(MODULE, m));
        }
        text
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

    #[test]
    fn errors_name_the_file_line_and_fault() {
        let e = |t: &str| Config::parse(t).unwrap_err().to_string();
        assert_eq!(
            e("app=/a\nfoo=1\n"),
            "/etc/b8g-unikernel.conf line 2: unknown key \"foo\""
        );
        assert_eq!(e("arg=x\n"), "/etc/b8g-unikernel.conf line 0: no app= line");
        assert_eq!(
            e("app=/a\narg=\\q\n"),
            "/etc/b8g-unikernel.conf line 2: bad escape \\q"
        );
        assert_eq!(
            e("app=/a\nnet.address=10.0.2/24\n"),
            "/etc/b8g-unikernel.conf line 2: \"10.0.2\" is not an IPv4 address"
        );
    }

    /// `recipes/unikernel` escapes tabs as `\t`; the shim must read them.
    #[test]
    fn tabs_escaped_by_the_recipe_are_read() {
        let c = Config::parse("app=/a\narg=a\\tb\n").unwrap();
        assert_eq!(c.args, ["a\tb"]);
    }

    #[test]
    fn rendered_configurations_round_trip() {
        let full = Config {
            modules: vec!["/lib/modules/virtio_pci.ko".into()],
            network: Some(Network {
                interface: "eth1".into(),
                address: [192, 168, 1, 9],
                prefix: 16,
                gateway: None,
            }),
            app: "/s/bin/app".into(),
            args: vec!["-c".into(), "a\\b\nc\td".into(), String::new()],
            env: vec!["PATH=/s/bin".into(), "X=a=b".into()],
            cwd: "/srv".into(),
        };
        let minimal = Config {
            app: "/s/bin/app".into(),
            cwd: "/".into(),
            ..Config::default()
        };
        for c in [full, minimal] {
            assert_eq!(Config::parse(&c.render()), Ok(c.clone()));
        }
        assert_eq!(
            line(MODULE, "/lib/modules/a.ko"),
            "module=/lib/modules/a.ko\n"
        );
    }
}
