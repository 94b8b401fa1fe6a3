//! Builtins that read and write hash strings with the store's [`Hash`]
//! (b8g-eval has no hash parser of its own): `convertHash`, from Nix 2.19.
//! They need no store, so [`hash_builtins`] are registered on every
//! evaluation, pure ones too.

use b8g_eval::builtins::str_value;
use b8g_eval::error::err;
use b8g_eval::{EvalResult, Evaluator, Pos, PrimOp, Value};
use b8g_store::format::hash::{Encoding, Hash, HashAlgo};

/// The builtins of this module, to register with [`Evaluator::with_builtins`].
pub fn hash_builtins() -> Vec<PrimOp> {
    vec![PrimOp {
        name: "convertHash",
        arity: 1,
        fun: prim_convert_hash,
    }]
}

/// The output formats of `convertHash` (Nix's `parseHashFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashFormat {
    Plain(Encoding),
    Sri,
}

fn parse_format(s: &str) -> Option<HashFormat> {
    Some(match s {
        "base16" => HashFormat::Plain(Encoding::Base16),
        // "base32" is Nix's deprecated name for nix32.
        "nix32" | "base32" => HashFormat::Plain(Encoding::Nix32),
        "base64" => HashFormat::Plain(Encoding::Base64),
        "sri" => HashFormat::Sri,
        _ => return None,
    })
}

/// `builtins.convertHash { hash; toHashFormat; hashAlgo ? }`: the hash in
/// another encoding, with the algorithm prefix only in SRI form, as in Nix
/// 2.19 (`Hash::parseAny(hash, hashAlgo).to_string(format, format == SRI)`).
/// Attributes are forced in Nix's order: `hash`, `hashAlgo`, `toHashFormat`.
fn prim_convert_hash(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let args = ev.force_attrs(a[0].clone(), p)?;
    let Some(hash) = args.get("hash").cloned() else {
        return err("attribute 'hash' missing", p);
    };
    let hash = ev.force_string_without_context(hash, p)?;
    let algo = match args.get("hashAlgo").cloned() {
        Some(v) => {
            let name = ev.force_string_without_context(v, p)?;
            match name.parse::<HashAlgo>() {
                Ok(algo) => Some(algo),
                Err(_) => {
                    return err(
                        format!(
                            "unknown hash algorithm '{name}', expect 'md5', 'sha1', 'sha256', or 'sha512'"
                        ),
                        p,
                    )
                }
            }
        }
        None => None,
    };
    let Some(format) = args.get("toHashFormat").cloned() else {
        return err("attribute 'toHashFormat' missing", p);
    };
    let format_name = ev.force_string_without_context(format, p)?;
    let Some(format) = parse_format(&format_name) else {
        return err(
            format!(
                "unknown hash format '{format_name}', expect 'base16', 'base32', 'base64', or 'sri'"
            ),
            p,
        );
    };
    let parsed = match Hash::parse_any(&hash, algo) {
        Ok(h) => h,
        Err(e) => return err(e.to_string(), p),
    };
    let out = match format {
        HashFormat::Plain(enc) => parsed.encode(enc),
        HashFormat::Sri => parsed.to_sri(),
    };
    Ok(str_value(out, Default::default()))
}
