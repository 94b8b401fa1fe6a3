//! Builtins that read files and paths: `import`, `readFile`, `readDir`,
//! `pathExists`, `findFile`, `hashFile`, `baseNameOf` and `dirOf`.

use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Context, Env, Sym, Value};

use super::strings::hash_bytes;

pub(super) fn prim_base_name_of(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, false, p)?;
    let t = s.strip_suffix('/').unwrap_or(&s);
    let base = match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    };
    Ok(Value::string_ctx(base.to_string(), ctx))
}

pub(super) fn prim_dir_of(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let v = ev.force(a[0].clone())?;
    let is_path = matches!(v, Value::Path(_));
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(v, &mut ctx, false, false, p)?;
    let dir = match s.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => s[..i].to_string(),
        None => ".".to_string(),
    };
    if is_path {
        Ok(Value::Path(dir.into()))
    } else {
        Ok(Value::string_ctx(dir, ctx))
    }
}

pub(super) fn prim_find_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let sp = ev.force_list(a[0].clone(), p)?;
    let name = ev.force_string_noctx(a[1].clone(), p)?;
    for e in sp.iter() {
        let e = ev.force_attrs(e.clone(), p)?;
        let prefix = match e.get("prefix") {
            Some(v) => ev.force_string_noctx(v.clone(), p)?,
            None => String::new(),
        };
        let Some(path) = e.get("path") else {
            return err("attribute 'path' missing", p);
        };
        let mut ctx = Context::new();
        let path = ev.coerce_to_string(path.clone(), &mut ctx, false, false, p)?;
        let rest = if prefix.is_empty() {
            Some(name.clone())
        } else if name == prefix {
            Some(String::new())
        } else {
            name.strip_prefix(&format!("{prefix}/")).map(str::to_string)
        };
        if let Some(rest) = rest {
            let full = if rest.is_empty() {
                path
            } else {
                format!("{path}/{rest}")
            };
            if ev.io.path_exists(&full) {
                return Ok(Value::Path(crate::compile::canon_path(&full).into()));
            }
        }
    }
    err(
        format!(
            "file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
        ),
        p,
    )
}

pub(super) fn prim_hash_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let algo = ev.force_string_noctx(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[1], &mut ctx, p)?;
    let data = read_file_bytes(ev, &path, p)?;
    match hash_bytes(&algo, &data) {
        Some(h) => Ok(Value::string(hex::encode(h))),
        None => err(format!("unknown hash algorithm '{algo}'"), p),
    }
}

pub(super) fn read_file_bytes(ev: &mut Evaluator, path: &str, p: Pos) -> EvalResult<Vec<u8>> {
    ev.io.read_file(path).map_err(|e| {
        // A directory opens and then fails to read, and Nix words it so.
        let msg = if e.kind() == std::io::ErrorKind::IsADirectory {
            "reading from file: Is a directory".to_string()
        } else {
            format!("opening file '{path}': {}", crate::eval::io_msg(&e))
        };
        EvalError::new(ErrorKind::Io, msg, p)
    })
}

/// The path a file-reading builtin is given, as Nix's `realisePath`: an error in
/// making it a path gets the frame Nix gives it.
fn realise_path(ev: &mut Evaluator, v: &Value, ctx: &mut Context, p: Pos) -> EvalResult<String> {
    ev.coerce_to_path(v.clone(), ctx, p).map_err(|mut e| {
        e.add_frame(p, "while realising the context of a path");
        e
    })
}

pub(super) fn prim_import(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[0], &mut ctx, p)?;
    ev.import_forced(&path, p)
}

pub(super) fn prim_scoped_import(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let scope = ev.force_attrs(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[1], &mut ctx, p)?;
    let path = ev.resolve_expr_path(&path)?;
    let names: Vec<Sym> = scope.iter().map(|a| a.name.clone()).collect();
    let vals: Vec<Value> = scope.iter().map(|a| a.value.clone()).collect();
    let e = ev.parse_file(&path, p, Some(names))?;
    let env = Env::new(vals, Some(ev.globals.clone()));
    ev.eval(e, &env)
}

pub(super) fn prim_path_exists(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[0], &mut ctx, p)?;
    Ok(Value::Bool(ev.io.path_exists(&path)))
}

/// `readFileType` (Nix 2.14, which newer nixpkgs libs use): the type of the
/// path itself, a final symlink not followed, named as `readDir` names it.
pub(super) fn prim_read_file_type(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[0], &mut ctx, p)?;
    let t = ev.io.file_type(&path).map_err(|e| {
        EvalError::new(
            ErrorKind::Io,
            format!("getting status of '{path}': {}", crate::eval::io_msg(&e)),
            p,
        )
    })?;
    Ok(Value::string(t.as_nix_str()))
}

pub(super) fn prim_read_dir(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[0], &mut ctx, p)?;
    let entries = ev.io.read_dir(&path).map_err(|e| {
        EvalError::new(
            ErrorKind::Io,
            format!("opening directory '{path}': {}", crate::eval::io_msg(&e)),
            p,
        )
    })?;
    Ok(Value::attrs(Attrs::from_unsorted(
        entries
            .into_iter()
            .map(|(n, t)| Attr {
                name: n.into(),
                value: Value::string(t.as_nix_str()),
                pos: Pos::NONE,
            })
            .collect(),
    )))
}

pub(super) fn prim_read_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = realise_path(ev, &a[0], &mut ctx, p)?;
    let data = read_file_bytes(ev, &path, p)?;
    let s = String::from_utf8_lossy(&data).into_owned();
    Ok(Value::string_ctx(s, ctx))
}
