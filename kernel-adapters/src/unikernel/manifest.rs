//! The manifest of a unikernel image: how to run it. A `manifest` file beside
//! `kernel` and `initrd`, one `key=value` per line (values escaped as in
//! [`super::escape`]):
//!
//! ```text
//! memory=64M
//! machine=pc
//! append=quiet
//! qemu-arg=-device
//! qemu-arg=isa-debug-exit,iobase=0xf4,iosize=0x04
//! ```
//!
//! `append` and `qemu-arg` may repeat; their order is kept.

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// qemu machine type (`pc` or `q35`; `microvm` hangs often under TCG).
    pub machine: String,
    /// Kernel command line words, between `console=ttyS0` and `panic=-1`.
    pub append: Vec<String>,
    /// Extra qemu arguments (devices, network).
    pub qemu_args: Vec<String>,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest line {line}: {why}")]
    Line { line: usize, why: String },
}

/// `64M`, `1G`, `512` (MiB) as MiB.
pub fn parse_memory(s: &str) -> Option<u32> {
    let (num, mult) = match s.as_bytes().last()? {
        b'M' | b'm' => (&s[..s.len() - 1], 1),
        b'G' | b'g' => (&s[..s.len() - 1], 1024),
        _ => (s, 1),
    };
    num.parse::<u32>()
        .ok()?
        .checked_mul(mult)
        .filter(|m| *m >= 16)
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut m = Manifest {
            memory_mib: 64,
            machine: "pc".into(),
            append: Vec::new(),
            qemu_args: Vec::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let err = |why: String| ManifestError::Line { line: i + 1, why };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| err("expected key=value".into()))?;
            let v = super::unescape(v).map_err(|e| err(e.to_string()))?;
            match k {
                "memory" => {
                    m.memory_mib = parse_memory(&v).ok_or_else(|| {
                        err(format!("memory {v:?} is not like 64M (at least 16M)"))
                    })?
                }
                "machine" => m.machine = v,
                "append" => m.append.push(v),
                "qemu-arg" => m.qemu_args.push(v),
                _ => return Err(err(format!("unknown key {k:?}"))),
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let m = Manifest::parse(
            "memory=128M\nappend=quiet\nqemu-arg=-device\nqemu-arg=isa-debug-exit,iobase=0xf4,iosize=0x04\n",
        )
        .unwrap();
        assert_eq!(m.memory_mib, 128);
        assert_eq!(m.machine, "pc");
        assert_eq!(m.append, ["quiet"]);
        assert_eq!(m.qemu_args.len(), 2);
        assert_eq!(parse_memory("1G"), Some(1024));
        assert_eq!(parse_memory("8M"), None);
        assert!(Manifest::parse("memory=lots\n").is_err());
        assert!(Manifest::parse("colour=blue\n").is_err());
    }
}
