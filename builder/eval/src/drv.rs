//! Builtins that produce store objects: `derivationStrict` (and `derivation`
//! on top of it), `toFile`, `path`, `filterSource`, and the fetchers as
//! fixed-output paths. The store work itself is done by `EvalHost`.

use std::collections::{BTreeSet, HashSet};

use crate::builtins::{mk_attrs, str_value};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::io::{DrvSpec, FileType, FixedOutput};
use crate::value::{Context, Value};

/// `derivation`, written in Nix over `derivationStrict` as Nix itself does:
/// every output becomes an attribute set sharing the input attributes.
const DERIVATION_NIX: &str = r#"
drvAttrs @ { outputs ? [ "out" ], ... }:
let
  strict = derivationStrict drvAttrs;
  commonAttrs = drvAttrs // (builtins.listToAttrs outputsList) //
    { all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };
  outputToAttrListElement = outputName:
    { name = outputName;
      value = commonAttrs // {
        outPath = builtins.getAttr outputName strict;
        drvPath = strict.drvPath;
        type = "derivation";
        inherit outputName;
      };
    };
  outputsList = map outputToAttrListElement outputs;
in (builtins.head outputsList).value
"#;

pub(crate) fn derivation_fn(ev: &mut Evaluator) -> EvalResult<Value> {
    if let Some(v) = &ev.derivation_fn {
        return Ok(v.clone());
    }
    let e = ev.compile(DERIVATION_NIX, "«derivation»", "/")?;
    let env = ev.globals.clone();
    let v = ev.eval(e, &env)?;
    ev.derivation_fn = Some(v.clone());
    Ok(v)
}

fn host_err(m: String, p: Pos) -> Box<EvalError> {
    EvalError::new(ErrorKind::Io, m, p)
}

/// Decodes Nix base-32.
pub fn nix32_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHA: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let len = s.len() * 5 / 8;
    let mut out = vec![0u8; len];
    for (n, c) in s.bytes().rev().enumerate() {
        let digit = ALPHA.iter().position(|&a| a == c)? as u16;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        if i < len {
            out[i] |= (digit << j) as u8;
        }
        let carry = digit >> (8 - j);
        if i + 1 < len {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

fn hash_len(algo: &str) -> Option<usize> {
    Some(match algo {
        "md5" => 16,
        "sha1" => 20,
        "sha256" => 32,
        "sha512" => 64,
        _ => return None,
    })
}

/// Parses a hash in base16, nix32, base64 or SRI form; returns (algo, hex).
pub fn parse_hash(s: &str, algo: Option<&str>) -> Result<(String, String), String> {
    let (algo, body) =
        if let Some((a, b)) = s.split_once('-').filter(|(a, _)| hash_len(a).is_some()) {
            (a.to_string(), b.to_string())
        } else if let Some((a, b)) = s.split_once(':').filter(|(a, _)| hash_len(a).is_some()) {
            (a.to_string(), b.to_string())
        } else {
            match algo {
                Some(a) if !a.is_empty() => (a.to_string(), s.to_string()),
                _ => return Err(format!("hash '{s}' does not include a type")),
            }
        };
    let n = hash_len(&algo).ok_or_else(|| format!("unknown hash algorithm '{algo}'"))?;
    let bytes = if body.len() == n * 2 {
        hex::decode(&body).map_err(|_| format!("invalid base-16 hash '{s}'"))?
    } else if body.len() == (n * 8).div_ceil(5) {
        nix32_decode(&body).ok_or_else(|| format!("invalid base-32 hash '{s}'"))?
    } else if body.len() == n.div_ceil(3) * 4 {
        data_encoding::BASE64
            .decode(body.as_bytes())
            .map_err(|_| format!("invalid base-64 hash '{s}'"))?
    } else {
        return Err(format!(
            "hash '{s}' has wrong length for hash type '{algo}'"
        ));
    };
    Ok((algo, hex::encode(bytes)))
}

pub(crate) fn prim_derivation_strict(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let attrs = ev.force_attrs(a[0].clone(), p)?;
    let Some(name_v) = attrs.get("name").cloned() else {
        return err("required attribute 'name' missing", p);
    };
    let drv_name = ev.force_string_noctx(name_v, p)?;
    let structured = match attrs.get("__structuredAttrs") {
        Some(v) => ev.expect_bool(v.clone(), p)?,
        None => false,
    };
    let ignore_nulls = match attrs.get("__ignoreNulls") {
        Some(v) => ev.expect_bool(v.clone(), p)?,
        None => false,
    };
    let mut ctx = Context::new();
    let mut spec = DrvSpec {
        name: drv_name.clone(),
        outputs: vec!["out".into()],
        ..Default::default()
    };
    let mut json = serde_json::Map::new();
    let mut output_hash: Option<String> = None;
    let mut output_hash_algo: Option<String> = None;
    let mut recursive = false;
    let set_outputs = |list: Vec<String>, spec: &mut DrvSpec| -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for o in &list {
            if o == "drv" {
                return Err("invalid derivation output name 'drv'".into());
            }
            if !seen.insert(o.clone()) {
                return Err(format!("duplicate derivation output '{o}'"));
            }
        }
        if list.is_empty() {
            return Err("derivation cannot have an empty set of outputs".into());
        }
        spec.outputs = list;
        Ok(())
    };
    for at in &attrs.attrs {
        let key = &*at.name;
        if key == "__ignoreNulls" {
            continue;
        }
        if ignore_nulls {
            let v = ev.force(at.value.clone())?;
            if matches!(v, Value::Null) {
                continue;
            }
        }
        let ap = if at.pos.is_none() { p } else { at.pos };
        if key == "args" {
            let l = ev.force_list(at.value.clone(), ap)?;
            for x in l.iter() {
                let s = ev.coerce_to_string(x.clone(), &mut ctx, true, true, ap)?;
                spec.args.push(s);
            }
            continue;
        }
        if structured {
            if key == "__structuredAttrs" {
                continue;
            }
            let text = crate::print::to_json(ev, at.value.clone(), &mut ctx, ap)?;
            let j: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| EvalError::new(ErrorKind::Eval, e.to_string(), ap))?;
            json.insert(key.to_string(), j);
            match key {
                "builder" => spec.builder = ev.force_string_noctx(at.value.clone(), ap)?,
                "system" => spec.platform = ev.force_string_noctx(at.value.clone(), ap)?,
                "outputHash" => output_hash = Some(ev.force_string_noctx(at.value.clone(), ap)?),
                "outputHashAlgo" => {
                    output_hash_algo = Some(ev.force_string_noctx(at.value.clone(), ap)?)
                }
                "outputHashMode" => {
                    recursive = hash_mode(&ev.force_string_noctx(at.value.clone(), ap)?, ap)?
                }
                "outputs" => {
                    let l = ev.force_list(at.value.clone(), ap)?;
                    let mut outs = Vec::new();
                    for x in l.iter() {
                        outs.push(ev.force_string_noctx(x.clone(), ap)?);
                    }
                    set_outputs(outs, &mut spec)
                        .map_err(|m| EvalError::new(ErrorKind::Eval, m, ap))?;
                }
                _ => {}
            }
        } else {
            let s = ev.coerce_to_string(at.value.clone(), &mut ctx, true, true, ap)?;
            match key {
                "builder" => spec.builder = s.clone(),
                "system" => spec.platform = s.clone(),
                "outputHash" => output_hash = Some(s.clone()),
                "outputHashAlgo" => output_hash_algo = Some(s.clone()),
                "outputHashMode" => recursive = hash_mode(&s, ap)?,
                "outputs" => {
                    let outs = s.split_whitespace().map(str::to_string).collect();
                    set_outputs(outs, &mut spec)
                        .map_err(|m| EvalError::new(ErrorKind::Eval, m, ap))?;
                }
                _ => {}
            }
            spec.env.insert(key.to_string(), s);
        }
    }
    if structured {
        let text = serde_json::to_string(&serde_json::Value::Object(json))
            .map_err(|e| EvalError::new(ErrorKind::Eval, e.to_string(), p))?;
        spec.env.insert("__json".into(), text);
    }
    for c in &ctx {
        if let Some(path) = c.strip_prefix('=') {
            spec.input_srcs.insert(format!("={path}"));
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, path)) = rest.split_once('!') {
                spec.input_drvs
                    .entry(path.to_string())
                    .or_default()
                    .insert(out.to_string());
            }
        } else {
            spec.input_srcs.insert(c.clone());
        }
    }
    if spec.builder.is_empty() {
        return err("required attribute 'builder' missing", p);
    }
    if spec.platform.is_empty() {
        return err("required attribute 'system' missing", p);
    }
    if drv_name.ends_with(".drv") {
        return err("derivation names are not allowed to end in '.drv'", p);
    }
    if let Some(h) = output_hash {
        if spec.outputs != ["out"] {
            return err(
                "multiple outputs are not supported in fixed-output derivations",
                p,
            );
        }
        let (algo, hex) = parse_hash(&h, output_hash_algo.as_deref())
            .map_err(|m| EvalError::new(ErrorKind::Eval, m, p))?;
        spec.fixed = Some(FixedOutput {
            recursive,
            algo,
            hash_hex: hex,
        });
    }
    let out = ev.host.write_derivation(spec).map_err(|m| host_err(m, p))?;
    let mut pairs = vec![(
        "drvPath",
        str_value(out.drv_path.clone(), [format!("={}", out.drv_path)].into()),
    )];
    let outs: Vec<(String, String)> = out.outputs.into_iter().collect();
    let mut values = Vec::new();
    for (name, path) in &outs {
        values.push((
            name.clone(),
            str_value(path.clone(), [format!("!{name}!{}", out.drv_path)].into()),
        ));
    }
    for (n, v) in &values {
        pairs.push((n.as_str(), v.clone()));
    }
    Ok(mk_attrs(pairs))
}

fn hash_mode(s: &str, p: Pos) -> EvalResult<bool> {
    match s {
        "recursive" => Ok(true),
        "flat" => Ok(false),
        _ => err(
            format!("invalid value '{s}' for 'outputHashMode' attribute"),
            p,
        ),
    }
}

pub(crate) fn prim_to_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let name = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    let mut refs = BTreeSet::new();
    for c in &s.ctx {
        if c.starts_with('=') || c.starts_with('!') {
            return err(
                format!("in 'toFile': the file '{name}' cannot refer to derivation outputs"),
                p,
            );
        }
        refs.insert(c.clone());
    }
    let path = ev
        .host
        .add_text(&name, &s.s, &refs)
        .map_err(|m| host_err(m, p))?;
    Ok(str_value(path.clone(), [path].into()))
}

/// Walks `root` and returns the paths the filter keeps (a dropped directory drops its contents).
fn apply_filter(
    ev: &mut Evaluator,
    root: &str,
    filter: Value,
    p: Pos,
) -> EvalResult<HashSet<String>> {
    let mut keep = HashSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(dir) = stack.pop() {
        let entries = match ev.io.read_dir(&dir) {
            Ok(e) => e,
            Err(_) => continue,
        };
        for (n, t) in entries {
            let full = format!("{dir}/{n}");
            let g = ev.call(filter.clone(), Value::string(full.clone()), p)?;
            let r = ev.call(g, Value::string(t.as_nix_str()), p)?;
            if ev.expect_bool(r, p)? {
                if t == FileType::Directory {
                    stack.push(full.clone());
                }
                keep.insert(full);
            }
        }
    }
    Ok(keep)
}

fn add_path_common(
    ev: &mut Evaluator,
    path: &str,
    name: &str,
    recursive: bool,
    filter: Option<Value>,
    sha256: Option<String>,
    p: Pos,
) -> EvalResult<Value> {
    if !ev.io.path_exists(path) {
        return err(
            format!("getting status of '{path}': No such file or directory"),
            p,
        );
    }
    let keep = match filter {
        Some(f) => Some(apply_filter(ev, path, f, p)?),
        None => None,
    };
    let expected = match sha256 {
        Some(h) => Some(
            parse_hash(&h, Some("sha256"))
                .map_err(|m| EvalError::new(ErrorKind::Eval, m, p))?
                .1,
        ),
        None => None,
    };
    let sp = ev
        .host
        .add_path(path, name, recursive, keep.as_ref(), expected.as_deref())
        .map_err(|m| host_err(m, p))?;
    Ok(str_value(sp.clone(), [sp].into()))
}

pub(crate) fn prim_filter_source(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[1].clone(), &mut ctx, p)?;
    let name = path.rsplit('/').next().unwrap_or("source").to_string();
    add_path_common(ev, &path, &name, true, Some(f), None, p)
}

pub(crate) fn prim_path(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let args = ev.force_attrs(a[0].clone(), p)?;
    let Some(pv) = args.get("path").cloned() else {
        return err("'path' required", p);
    };
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(pv, &mut ctx, p)?;
    let name = match args.get("name") {
        Some(v) => ev.force_string_noctx(v.clone(), p)?,
        None => path.rsplit('/').next().unwrap_or("source").to_string(),
    };
    let filter = match args.get("filter") {
        Some(v) => Some(ev.force_function(v.clone(), p)?),
        None => None,
    };
    let recursive = match args.get("recursive") {
        Some(v) => ev.expect_bool(v.clone(), p)?,
        None => true,
    };
    let sha256 = match args.get("sha256") {
        Some(v) => Some(ev.force_string_noctx(v.clone(), p)?),
        None => None,
    };
    add_path_common(ev, &path, &name, recursive, filter, sha256, p)
}

/// The fetchers without network: with a hash, the result is the
/// fixed-output store path; the content is fetched when it is built.
/// `builtins.fetchurl` and `builtins.fetchTarball`: the argument is a URL or
/// a set of `url`, `sha256` (any encoding, or SRI) and `name`, as in Nix 2.8.
/// The host downloads at evaluation time and checks the hash when one is
/// given; like `nix-instantiate`, a missing hash is allowed.
fn fetch_common(
    ev: &mut Evaluator,
    a: &[Value],
    p: Pos,
    unpack: bool,
    default_name: Option<&str>,
    what: &str,
) -> EvalResult<Value> {
    let v = ev.force(a[0].clone())?;
    let (url, name, hash) = match &v {
        Value::Attrs(s) => {
            for at in &s.attrs {
                if !matches!(&*at.name, "url" | "sha256" | "name") {
                    return err(
                        format!("unsupported argument '{}' to '{what}'", at.name),
                        at.pos,
                    );
                }
            }
            let Some(u) = s.get("url").cloned() else {
                return err("'url' argument required", p);
            };
            let url = ev.force_string_noctx(u, p)?;
            let name = match s.get("name") {
                Some(n) => Some(ev.force_string_noctx(n.clone(), p)?),
                None => None,
            };
            let hash = match s.get("sha256") {
                Some(h) => Some(ev.force_string_noctx(h.clone(), p)?),
                None => None,
            };
            (url, name, hash.filter(|h| !h.is_empty()))
        }
        _ => (ev.force_string_noctx(v.clone(), p)?, None, None),
    };
    let name = name.unwrap_or_else(|| match default_name {
        Some(n) => n.to_string(),
        None => url.rsplit('/').next().unwrap_or("").to_string(),
    });
    let expected = match hash {
        Some(h) => {
            let (algo, hex) = parse_hash(&h, Some("sha256"))
                .map_err(|m| EvalError::new(ErrorKind::Eval, m, p))?;
            if algo != "sha256" {
                return err(format!("hash '{h}' should have type 'sha256'"), p);
            }
            Some(FixedOutput {
                recursive: unpack,
                algo,
                hash_hex: hex,
            })
        }
        None => None,
    };
    let req = crate::io::FetchRequest {
        url,
        name,
        unpack,
        expected,
    };
    let sp = ev.host.fetch(&req).map_err(|m| host_err(m, p))?;
    Ok(str_value(sp.clone(), [sp].into()))
}

pub(crate) fn prim_fetchurl(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    fetch_common(ev, a, p, false, None, "fetchurl")
}

pub(crate) fn prim_fetch_tarball(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    fetch_common(ev, a, p, true, Some("source"), "fetchTarball")
}
