//! ATerm serialisation of derivations, identical to Nix's `unparse`.

use super::Derivation;
use std::collections::{BTreeMap, BTreeSet};

impl Derivation {
    /// The `.drv` file contents: `Derive([outputs],[inputDrvs],[inputSrcs],system,builder,[args],[env])`.
    pub fn to_aterm(&self) -> String {
        let mut out = Vec::new();
        write_aterm(&mut out, self, None, false);
        String::from_utf8(out).expect("derivation fields are Strings, so the ATerm is UTF-8")
    }
}

/// Writes the ATerm. `inputs_override` replaces the input derivations (used by
/// `hash_modulo`, which keys them by hash instead of path); `mask_outputs` writes
/// empty output paths and empty values for the outputs' environment variables.
pub(super) fn write_aterm(
    out: &mut Vec<u8>,
    drv: &Derivation,
    inputs_override: Option<&BTreeMap<String, BTreeSet<String>>>,
    mask_outputs: bool,
) {
    out.extend_from_slice(b"Derive([");
    for (i, (name, o)) in drv.outputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'(');
        string(out, name);
        out.push(b',');
        string(out, if mask_outputs { "" } else { &o.path });
        out.push(b',');
        string(out, &o.hash_algo);
        out.push(b',');
        string(out, &o.hash);
        out.push(b')');
    }
    out.extend_from_slice(b"],[");
    let inputs = inputs_override.unwrap_or(&drv.input_drvs);
    for (i, (path, outs)) in inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'(');
        string(out, path);
        out.push(b',');
        list(out, outs.iter().map(String::as_str));
        out.push(b')');
    }
    out.extend_from_slice(b"],");
    list(out, drv.input_srcs.iter().map(String::as_str));
    out.push(b',');
    string(out, &drv.system);
    out.push(b',');
    string(out, &drv.builder);
    out.push(b',');
    list(out, drv.args.iter().map(String::as_str));
    out.extend_from_slice(b",[");
    for (i, (k, v)) in drv.env.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'(');
        string(out, k);
        out.push(b',');
        let masked = mask_outputs && drv.outputs.contains_key(k);
        string(out, if masked { "" } else { v });
        out.push(b')');
    }
    out.extend_from_slice(b"])");
}

fn list<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

/// Nix escapes only `"`, `\`, newline, carriage return and tab.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
