//! The builtins that make store objects, registered onto the evaluator by
//! [`store_builtins`]: `derivationStrict` (the evaluator's `derivation` is
//! written over it), `toFile`, `path`, `filterSource`, and the fetchers
//! `fetchurl`, `fetchTarball`, `fetchGit` and `fetchTree` (in [`super::fetch_tree`]). They read their arguments with the
//! evaluator's API and leave the store work to [`StoreHost`].

use std::collections::{BTreeSet, HashSet};

use b8g_eval::builtins::{mk_attrs, str_value};
use b8g_eval::error::err;
use b8g_eval::Pos;
use b8g_eval::{Context, ErrorKind, EvalError, EvalResult, Evaluator, FileType, PrimOp, Value};
use b8g_store::format::hash::{Hash, HashAlgo};
use b8g_store::format::store_path::FileIngestionMethod;

use super::host::{DrvSpec, FetchRequest, FixedOutput, StoreHost};
use super::GlueError;

/// The builtins to register with [`Evaluator::with_builtins`] over a
/// [`StoreHost`] (those that need no store, [`super::hash_builtins`], too).
pub fn store_builtins() -> Vec<PrimOp> {
    let mut ops = super::hash_builtins();
    ops.extend([
        PrimOp {
            name: "derivationStrict",
            arity: 1,
            fun: prim_derivation_strict,
        },
        PrimOp {
            name: "toFile",
            arity: 2,
            fun: prim_to_file,
        },
        PrimOp {
            name: "path",
            arity: 1,
            fun: prim_path,
        },
        PrimOp {
            name: "filterSource",
            arity: 2,
            fun: prim_filter_source,
        },
        PrimOp {
            name: "fetchurl",
            arity: 1,
            fun: prim_fetchurl,
        },
        PrimOp {
            name: "fetchTarball",
            arity: 1,
            fun: prim_fetch_tarball,
        },
        PrimOp {
            name: "fetchGit",
            arity: 1,
            fun: super::fetch_tree::prim_fetch_git,
        },
        PrimOp {
            name: "fetchTree",
            arity: 1,
            fun: super::fetch_tree::prim_fetch_tree,
        },
    ]);
    ops
}

/// The evaluator's host, which these builtins were registered with.
pub(crate) fn host(ev: &mut Evaluator, p: Pos) -> EvalResult<&mut StoreHost> {
    ev.host
        .as_any_mut()
        .downcast_mut::<StoreHost>()
        .ok_or_else(|| EvalError::new(ErrorKind::Io, "the store builtins need b8g's store host", p))
}

pub(crate) fn store_err(e: GlueError, p: Pos) -> Box<EvalError> {
    let kind = match &e {
        GlueError::Fetch(super::fetch::FetchError::Mismatch { .. }) => ErrorKind::HashMismatch,
        _ => ErrorKind::Io,
    };
    EvalError::new(kind, e.to_string(), p)
}

fn method(recursive: bool) -> FileIngestionMethod {
    if recursive {
        FileIngestionMethod::Recursive
    } else {
        FileIngestionMethod::Flat
    }
}

/// A hash in base16, nix32, base64 or SRI form, with `algo` (a name, or
/// empty) when the hash does not carry its own, as Nix's `Hash::parseAny`.
fn parse_hash(s: &str, algo: Option<&str>, p: Pos) -> EvalResult<Hash> {
    let algo = match algo.filter(|a| !a.is_empty()) {
        Some(a) => Some(a.parse::<HashAlgo>().map_err(|_| {
            EvalError::new(ErrorKind::Eval, format!("unknown hash algorithm '{a}'"), p)
        })?),
        None => None,
    };
    Hash::parse_any(s, algo).map_err(|e| EvalError::new(ErrorKind::Eval, e.to_string(), p))
}

fn prim_derivation_strict(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let attrs = ev.force_attrs(a[0].clone(), p)?;
    let Some(name_at) = attrs.get_attr("name") else {
        return err("attribute 'name' missing for call to 'derivationStrict'", p);
    };
    let name_pos = if name_at.pos.is_none() {
        p
    } else {
        name_at.pos
    };
    let drv_name = ev
        .force_string_noctx(name_at.value.clone(), p)
        .map_err(|mut e| {
            e.add_frame(name_pos, "while evaluating the derivation attribute 'name'");
            e
        })?;
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
    for at in attrs.iter() {
        let key = &*at.name;
        let mut one = || -> EvalResult<()> {
            let key = &*at.name;
            if key == "__ignoreNulls" {
                return Ok(());
            }
            if ignore_nulls {
                let v = ev.force(at.value.clone())?;
                if matches!(v, Value::Null) {
                    return Ok(());
                }
            }
            // Nix places most of these errors at the `name` attribute (`posDrvName`), a
            // list or JSON one at the call, an environment string at its attribute.
            let ap = name_pos;
            let own = if at.pos.is_none() { p } else { at.pos };
            if key == "args" {
                let l = ev.force_list(at.value.clone(), p)?;
                for x in l.iter() {
                    let s = ev.coerce_to_string(x.clone(), &mut ctx, true, true, ap)?;
                    spec.args.push(s);
                }
                return Ok(());
            }
            if structured {
                if key == "__structuredAttrs" {
                    return Ok(());
                }
                let text = b8g_eval::print::to_json(ev, at.value.clone(), &mut ctx, p)?;
                let j: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| EvalError::new(ErrorKind::Eval, e.to_string(), ap))?;
                json.insert(key.to_string(), j);
                match key {
                    "builder" => spec.builder = ev.force_string_noctx(at.value.clone(), ap)?,
                    "system" => spec.platform = ev.force_string_noctx(at.value.clone(), ap)?,
                    "outputHash" => {
                        output_hash = Some(ev.force_string_noctx(at.value.clone(), ap)?)
                    }
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
                let s = ev.coerce_to_string(at.value.clone(), &mut ctx, true, true, own)?;
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
            Ok(())
        };
        one().map_err(|mut e| {
            e.add_frame(
                name_pos,
                format!("while evaluating the attribute '{key}' of the derivation '{drv_name}'"),
            );
            e
        })?;
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
        return err("required attribute 'builder' missing", name_pos);
    }
    if spec.platform.is_empty() {
        return err("required attribute 'system' missing", name_pos);
    }
    if drv_name.ends_with(".drv") {
        return err(
            "derivation names are not allowed to end in '.drv'",
            name_pos,
        );
    }
    if let Some(h) = output_hash {
        if spec.outputs != ["out"] {
            return err(
                "multiple outputs are not supported in fixed-output derivations",
                p,
            );
        }
        let hash = parse_hash(&h, output_hash_algo.as_deref(), p)?;
        spec.fixed = Some(FixedOutput {
            method: method(recursive),
            hash,
        });
    }
    let out = host(ev, p)?
        .write_derivation(spec)
        .map_err(|e| store_err(e, p))?;
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

fn prim_to_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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
    let path = host(ev, p)?
        .add_text(&name, &s.s, &refs)
        .map_err(|e| store_err(e, p))?;
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
    // Only a directory has entries to ask about: a root that is a link (even to
    // a directory) is stored as the link, and Nix never calls the filter for it.
    if !matches!(ev.io.file_type(root), Ok(FileType::Directory)) {
        return Ok(keep);
    }
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

/// `builtins.path` and `filterSource`: any error in adding the path, the filter's
/// included, gets the frame Nix's `addPath` gives it.
fn add_path_common(
    ev: &mut Evaluator,
    path: &str,
    name: &str,
    recursive: bool,
    filter: Option<Value>,
    sha256: Option<String>,
    p: Pos,
) -> EvalResult<Value> {
    let add = || -> EvalResult<Value> {
        if !ev.io.path_exists(path) {
            return Err(EvalError::new(
                ErrorKind::Io,
                format!("getting status of '{path}': No such file or directory"),
                p,
            ));
        }
        let keep = match filter {
            Some(f) => Some(apply_filter(ev, path, f, p)?),
            None => None,
        };
        let expected = match sha256 {
            Some(h) => Some(parse_hash(&h, Some("sha256"), p)?),
            None => None,
        };
        let sp = host(ev, p)?
            .add_path(path, name, recursive, keep.as_ref(), expected.as_ref())
            .map_err(|e| store_err(e, p))?;
        Ok(str_value(sp.clone(), [sp].into()))
    };
    add().map_err(|mut e| {
        e.add_frame(p, format!("while adding path '{path}'"));
        e
    })
}

fn prim_filter_source(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[1].clone(), &mut ctx, p)?;
    let f = ev.force(a[0].clone())?;
    if !matches!(
        f,
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..)
    ) {
        return err(
            format!(
                "first argument in call to 'filterSource' is not a function but {}",
                f.show_type()
            ),
            p,
        );
    }
    let name = path.rsplit('/').next().unwrap_or("source").to_string();
    add_path_common(ev, &path, &name, true, Some(f), None, p)
}

/// `builtins.path`, taking its arguments as Nix 2.8 does: each checked at its own
/// attribute, an unknown one refused, the filter called (and so found not to be a
/// function) only while the path is added.
fn prim_path(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let args = ev.force_attrs(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let (mut path, mut name, mut filter, mut recursive, mut sha256) =
        (None, None, None, true, None);
    for at in args.iter() {
        let here = if at.pos.is_none() { p } else { at.pos };
        match &*at.name {
            "path" => path = Some(ev.coerce_to_path(at.value.clone(), &mut ctx, here)?),
            "name" => name = Some(ev.force_string_noctx(at.value.clone(), here)?),
            "filter" => filter = Some(ev.force(at.value.clone())?),
            "recursive" => recursive = ev.expect_bool(at.value.clone(), here)?,
            "sha256" => {
                sha256 =
                    Some(ev.force_string_noctx(at.value.clone(), here)?).filter(|h| !h.is_empty())
            }
            other => return err(format!("unsupported argument '{other}' to 'addPath'"), here),
        }
    }
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return err("'path' required", p);
    };
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| path.rsplit('/').next().unwrap_or("source").to_string());
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
            for at in s.iter() {
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
        Some(h) => Some(FixedOutput {
            method: method(unpack),
            hash: parse_hash(&h, Some("sha256"), p)?,
        }),
        None => None,
    };
    let req = FetchRequest {
        url,
        name,
        unpack,
        expected,
    };
    let sp = host(ev, p)?.fetch(&req).map_err(|e| store_err(e, p))?;
    Ok(str_value(sp.clone(), [sp].into()))
}

fn prim_fetchurl(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    fetch_common(ev, a, p, false, None, "fetchurl")
}

fn prim_fetch_tarball(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    fetch_common(ev, a, p, true, Some("source"), "fetchTarball")
}
