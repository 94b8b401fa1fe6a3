//! The unikernel adapter: one application booted as the only program of a VM.
//!
//! The recipe (`recipes/unikernel`) describes the image; the `b8g-unikernel`
//! builtin builder ([`builder`]) assembles it: a kernel, one reproducible
//! initramfs holding `b8g-unikernel-shim` as `/init`, the application's store
//! closure ([`closure`]), the kernel modules it needs and the shim's
//! configuration, and a manifest of how to run it ([`manifest`]). [`run`] boots
//! it under qemu and reads back the application's exit status; [`build`]
//! evaluates and realises an image file such as `images/unikernel-hello.nix`.

pub mod build;
pub mod builder;
pub mod closure;
pub mod manifest;
pub mod run;

/// `\\`, newline and tab as two-character escapes: the line format of the shim's
/// configuration, the builder's layout and the manifest.
pub fn unescape(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

/// The inverse of [`unescape`].
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        for s in ["", "plain", "a\\b\nc\td", "\\n"] {
            assert_eq!(unescape(&escape(s)).unwrap(), s);
            assert!(!escape(s).contains(['\n', '\t']));
        }
        assert!(unescape("\\x").is_err());
    }
}
