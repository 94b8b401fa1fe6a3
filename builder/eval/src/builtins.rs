//! The builtins of Nix 2.8 that need no store. The ones that make store
//! objects (`toFile`, `path`, `derivationStrict`, ...) are placeholders that
//! fail here; the owner of a store registers the real ones (b8g-builder's
//! glue does).

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use crate::compile::{BinOp, Param};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::{new_nixstr, Evaluator};
use crate::value::{
    Attr, Attrs, Bulk, Context, Env, List, NixString, PrimOp, Sym, ThunkState, Value,
};

type Fun = fn(&mut Evaluator, &[Value], Pos) -> EvalResult<Value>;

/// What `builtins.nixVersion` reports: the Nix release whose language and
/// builtins b8g offers (those behind experimental features aside). Where
/// 2.8 and later releases differ, b8g follows 2.8, its oracle.
pub const NIX_VERSION: &str = "2.18.0";

/// Names visible without `builtins.` (besides `__`-prefixed ones).
const TOP_LEVEL: &[&str] = &[
    "abort",
    "baseNameOf",
    "break",
    "derivation",
    "derivationStrict",
    "dirOf",
    "fetchGit",
    "fetchTarball",
    "fetchTree",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
];

fn primops() -> Vec<(&'static str, usize, Fun)> {
    vec![
        ("abort", 1, prim_abort),
        ("add", 2, |ev, a, p| {
            ev.arith(BinOp::Add, a[0].clone(), a[1].clone(), p)
        }),
        ("sub", 2, |ev, a, p| {
            ev.arith(BinOp::Sub, a[0].clone(), a[1].clone(), p)
        }),
        ("mul", 2, |ev, a, p| {
            ev.arith(BinOp::Mul, a[0].clone(), a[1].clone(), p)
        }),
        ("div", 2, |ev, a, p| {
            ev.arith(BinOp::Div, a[0].clone(), a[1].clone(), p)
        }),
        ("addErrorContext", 2, prim_add_error_context),
        ("all", 2, prim_all),
        ("any", 2, prim_any),
        ("appendContext", 2, prim_append_context),
        ("attrNames", 1, prim_attr_names),
        ("attrValues", 1, prim_attr_values),
        ("baseNameOf", 1, prim_base_name_of),
        // Nix 2.9: enters the debugger under `--debugger` (which b8g does not
        // offer), otherwise returns its argument.
        ("break", 1, |_, a, _| Ok(a[0].clone())),
        ("bitAnd", 2, |ev, a, p| bit(ev, a, p, |x, y| x & y)),
        ("bitOr", 2, |ev, a, p| bit(ev, a, p, |x, y| x | y)),
        ("bitXor", 2, |ev, a, p| bit(ev, a, p, |x, y| x ^ y)),
        ("catAttrs", 2, prim_cat_attrs),
        ("ceil", 1, |ev, a, p| float_round(ev, a, p, f64::ceil)),
        ("floor", 1, |ev, a, p| float_round(ev, a, p, f64::floor)),
        ("compareVersions", 2, prim_compare_versions),
        ("concatLists", 1, prim_concat_lists),
        ("concatMap", 2, prim_concat_map),
        ("concatStringsSep", 2, prim_concat_strings_sep),
        ("deepSeq", 2, |ev, a, p| {
            ev.deep_force(a[0].clone(), p)?;
            ev.force(a[1].clone())
        }),
        ("derivationStrict", 1, |_, _, p| {
            crate::drv::no_store("write a derivation", p)
        }),
        ("dirOf", 1, prim_dir_of),
        ("elem", 2, prim_elem),
        ("elemAt", 2, prim_elem_at),
        ("fetchurl", 1, |_, _, p| crate::drv::no_store("fetch", p)),
        ("fetchGit", 1, |_, _, p| crate::drv::no_store("fetch", p)),
        ("fetchTree", 1, |_, _, p| crate::drv::no_store("fetch", p)),
        ("fetchTarball", 1, |_, _, p| {
            crate::drv::no_store("fetch", p)
        }),
        ("filter", 2, prim_filter),
        ("filterSource", 2, |_, _, p| {
            crate::drv::no_store("copy a source", p)
        }),
        ("findFile", 2, prim_find_file),
        ("foldl'", 3, prim_foldl),
        ("fromJSON", 1, prim_from_json),
        ("fromTOML", 1, prim_from_toml),
        ("functionArgs", 1, prim_function_args),
        ("genList", 2, prim_gen_list),
        ("genericClosure", 1, prim_generic_closure),
        ("getAttr", 2, prim_get_attr),
        ("getContext", 1, prim_get_context),
        ("getEnv", 1, |ev, a, p| {
            let n = ev.force_string_noctx(a[0].clone(), p)?;
            Ok(Value::string(std::env::var(n).unwrap_or_default()))
        }),
        ("groupBy", 2, prim_group_by),
        ("hasAttr", 2, |ev, a, p| {
            let n = ev.force_string_noctx(a[0].clone(), p)?;
            let s = ev.force_attrs(a[1].clone(), p)?;
            Ok(Value::Bool(s.get(&n).is_some()))
        }),
        ("hasContext", 1, |ev, a, p| {
            let s = ev.force_string(a[0].clone(), p)?;
            Ok(Value::Bool(!s.ctx.is_empty()))
        }),
        ("hashFile", 2, prim_hash_file),
        ("hashString", 2, prim_hash_string),
        ("head", 1, |ev, a, p| {
            let l = ev.force_list(a[0].clone(), p)?;
            match l.first() {
                Some(v) => ev.force(v.clone()),
                None => err("list index 0 is out of bounds", p),
            }
        }),
        ("import", 1, prim_import),
        ("intersectAttrs", 2, prim_intersect_attrs),
        ("isAttrs", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Attrs(_)
            )))
        }),
        ("isBool", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Bool(_)
            )))
        }),
        ("isFloat", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Float(_)
            )))
        }),
        ("isFunction", 1, |ev, a, _| {
            Ok(Value::Bool(ev.force(a[0].clone())?.is_function()))
        }),
        ("isInt", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Int(_)
            )))
        }),
        ("isList", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::List(_)
            )))
        }),
        ("isNull", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(ev.force(a[0].clone())?, Value::Null)))
        }),
        ("isPath", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Path(_)
            )))
        }),
        ("isString", 1, |ev, a, _| {
            Ok(Value::Bool(matches!(
                ev.force(a[0].clone())?,
                Value::Str(_)
            )))
        }),
        ("length", 1, |ev, a, p| {
            Ok(Value::Int(ev.force_list(a[0].clone(), p)?.len() as i64))
        }),
        ("lessThan", 2, |ev, a, p| {
            Ok(Value::Bool(ev.less_than(a[0].clone(), a[1].clone(), p)?))
        }),
        ("listToAttrs", 1, prim_list_to_attrs),
        ("map", 2, prim_map),
        ("mapAttrs", 2, prim_map_attrs),
        ("match", 2, prim_match),
        ("parseDrvName", 1, prim_parse_drv_name),
        ("partition", 2, prim_partition),
        ("path", 1, |_, _, p| crate::drv::no_store("copy a path", p)),
        ("pathExists", 1, prim_path_exists),
        ("placeholder", 1, prim_placeholder),
        ("readDir", 1, prim_read_dir),
        ("readFileType", 1, prim_read_file_type),
        ("readFile", 1, prim_read_file),
        ("removeAttrs", 2, prim_remove_attrs),
        ("replaceStrings", 3, prim_replace_strings),
        ("scopedImport", 2, prim_scoped_import),
        ("seq", 2, |ev, a, _| {
            ev.force(a[0].clone())?;
            ev.force(a[1].clone())
        }),
        ("sort", 2, prim_sort),
        ("split", 2, prim_split),
        ("splitVersion", 1, prim_split_version),
        ("storePath", 1, prim_store_path),
        ("stringLength", 1, |ev, a, p| {
            let mut ctx = Context::new();
            let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, true, p)?;
            Ok(Value::Int(s.len() as i64))
        }),
        ("substring", 3, prim_substring),
        ("tail", 1, |ev, a, p| {
            let l = ev.force_list(a[0].clone(), p)?;
            if l.is_empty() {
                return err("'tail' called on an empty list", p);
            }
            Ok(Value::List(List::slice_from(&l, 1)))
        }),
        ("throw", 1, |ev, a, p| {
            let s = ev.force_string_noctx(a[0].clone(), p)?;
            Err(EvalError::new(ErrorKind::Throw, s, p))
        }),
        ("toFile", 2, |_, _, p| {
            crate::drv::no_store("write a file", p)
        }),
        ("toJSON", 1, |ev, a, p| {
            let mut ctx = Context::new();
            let s = crate::print::to_json(ev, a[0].clone(), &mut ctx, p)?;
            Ok(Value::string_ctx(s, ctx))
        }),
        ("toPath", 1, |ev, a, p| {
            let mut ctx = Context::new();
            let s = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
            Ok(Value::string_ctx(crate::compile::canon_path(&s), ctx))
        }),
        ("toString", 1, |ev, a, p| {
            let mut ctx = Context::new();
            let s = ev.coerce_to_string(a[0].clone(), &mut ctx, true, false, p)?;
            Ok(Value::string_ctx(s, ctx))
        }),
        ("toXML", 1, prim_to_xml),
        ("trace", 2, |ev, a, p| {
            let v = ev.force(a[0].clone())?;
            let s = match &v {
                Value::Str(s) => s.s.clone(),
                _ => crate::print::print_value(ev, v, false)?,
            };
            (ev.trace_sink)(&s);
            let _ = p;
            ev.force(a[1].clone())
        }),
        // Nix 2.10: prints like `trace` only under `--trace-verbose`, which
        // b8g does not offer; otherwise it is Nix's `prim_second`.
        ("traceVerbose", 2, |ev, a, _| ev.force(a[1].clone())),
        ("tryEval", 1, prim_try_eval),
        ("typeOf", 1, |ev, a, _| {
            Ok(Value::string(ev.force(a[0].clone())?.type_of()))
        }),
        ("unsafeDiscardOutputDependency", 1, |ev, a, p| {
            let s = ev.force_string(a[0].clone(), p)?;
            let ctx = s
                .ctx
                .iter()
                .map(|c| c.strip_prefix('=').unwrap_or(c).to_string())
                .collect();
            Ok(Value::string_ctx(s.s.clone(), ctx))
        }),
        ("unsafeDiscardStringContext", 1, |ev, a, p| {
            let mut ctx = Context::new();
            let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, true, p)?;
            Ok(Value::string(s))
        }),
        ("unsafeGetAttrPos", 2, |ev, a, p| {
            let n = ev.force_string_noctx(a[0].clone(), p)?;
            let s = ev.force_attrs(a[1].clone(), p)?;
            match s.get_attr(&n) {
                Some(at) => Ok(ev.pos_value(at.pos)),
                None => Ok(Value::Null),
            }
        }),
        ("zipAttrsWith", 2, prim_zip_attrs_with),
    ]
}

/// Builds the global environment and the `builtins` set.
pub(crate) fn install(ev: &mut Evaluator, extra: Vec<PrimOp>) {
    let mut attrs: Vec<Attr> = Vec::new();
    for (name, arity, fun) in primops() {
        if extra.iter().any(|e| e.name == name) {
            continue;
        }
        attrs.push(Attr {
            name: name.into(),
            value: Value::PrimOp(Rc::new(PrimOp { name, arity, fun })),
            pos: Pos::NONE,
        });
    }
    for op in extra {
        attrs.push(Attr {
            name: op.name.into(),
            value: Value::PrimOp(Rc::new(op)),
            pos: Pos::NONE,
        });
    }
    let store_dir = ev.host.store_dir();
    let nix_path: Vec<Value> = ev
        .opts
        .search_path
        .iter()
        .map(|(prefix, path)| {
            Value::attrs(Attrs::from_sorted(vec![
                Attr {
                    name: "path".into(),
                    value: Value::string(path.clone()),
                    pos: Pos::NONE,
                },
                Attr {
                    name: "prefix".into(),
                    value: Value::string(prefix.clone()),
                    pos: Pos::NONE,
                },
            ]))
        })
        .collect();
    let consts: Vec<(&str, Value)> = vec![
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
        (
            "currentSystem",
            Value::string(ev.opts.current_system.clone()),
        ),
        // The version whose builtins b8g offers (see docs/architecture.md,
        // "Which Nix b8g is"): nixpkgs requires at least 2.18.
        ("nixVersion", Value::string(NIX_VERSION)),
        ("langVersion", Value::Int(6)),
        ("storeDir", Value::string(store_dir)),
        ("nixPath", Value::list(nix_path)),
        (
            "currentTime",
            Value::Int(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            ),
        ),
    ];
    for (n, v) in consts {
        attrs.push(Attr {
            name: n.into(),
            value: v,
            pos: Pos::NONE,
        });
    }
    // `derivation` is written in Nix on top of derivationStrict; it is compiled
    // lazily against the finished global scope.
    attrs.push(Attr {
        name: "derivation".into(),
        value: Value::native(|ev: &mut Evaluator| crate::drv::derivation_fn(ev)),
        pos: Pos::NONE,
    });
    // The `builtins` set refers to itself; fill it in after creation.
    let builtins_thunk = Value::thunk(crate::value::ThunkState::Blackhole);
    attrs.push(Attr {
        name: "builtins".into(),
        value: builtins_thunk.clone(),
        pos: Pos::NONE,
    });
    let set = Rc::new(Attrs::from_unsorted(attrs));
    if let Value::Thunk(t) = &builtins_thunk {
        *t.0.borrow_mut() = crate::value::ThunkState::Done(Value::Attrs(set.clone()));
    }
    let mut names: Vec<Sym> = Vec::new();
    let mut vals = Vec::new();
    for a in set.iter() {
        let top = TOP_LEVEL.contains(&&*a.name)
            || matches!(&*a.name, "true" | "false" | "null" | "builtins");
        if top {
            names.push(a.name.clone());
            vals.push(a.value.clone());
        }
        if !matches!(&*a.name, "true" | "false" | "null" | "builtins") {
            names.push(format!("__{}", a.name).into());
            vals.push(a.value.clone());
        }
    }
    ev.globals = Env::new(vals, None);
    ev.global_names = names;
}

fn prim_abort(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, true, p)?;
    Err(EvalError::new(
        ErrorKind::Abort,
        format!("evaluation aborted with the following error message: '{s}'"),
        p,
    ))
}

fn bit(ev: &mut Evaluator, a: &[Value], p: Pos, f: fn(i64, i64) -> i64) -> EvalResult<Value> {
    let x = ev.force_int(a[0].clone(), p)?;
    let y = ev.force_int(a[1].clone(), p)?;
    Ok(Value::Int(f(x, y)))
}

/// `ceil` and `floor` as Nix 2.8: the argument is forced to a float (an
/// integer is converted, losing precision above 2^53) and the rounded double
/// is converted to an integer as x86-64's `cvttsd2si` does: NaN, infinities
/// and values outside [-2^63, 2^63) give -2^63. (Newer Nix throws there.)
fn float_round(ev: &mut Evaluator, a: &[Value], p: Pos, f: fn(f64) -> f64) -> EvalResult<Value> {
    let x = match ev.force(a[0].clone())? {
        Value::Int(i) => i as f64,
        Value::Float(x) => x,
        other => {
            return err(
                format!("value is {} while a float was expected", other.show_type()),
                p,
            )
        }
    };
    Ok(Value::Int(double_to_int_x86(f(x))))
}

/// The C++ `(int64_t) x` conversion as compiled for x86-64 by Nix 2.8.
fn double_to_int_x86(x: f64) -> i64 {
    // 2^63 is exactly representable; every double below it and at or above
    // -2^63 converts by truncation without overflow.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-LIMIT..LIMIT).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

fn prim_all(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        if !ev.expect_bool(r, p)? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn prim_any(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        if ev.expect_bool(r, p)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn prim_attr_names(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[0].clone(), p)?;
    Ok(Value::list(
        s.iter().map(|a| Value::string(&*a.name)).collect(),
    ))
}

fn prim_attr_values(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[0].clone(), p)?;
    Ok(Value::list(s.iter().map(|a| a.value.clone()).collect()))
}

fn prim_base_name_of(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, false, p)?;
    let t = s.strip_suffix('/').unwrap_or(&s);
    let base = match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    };
    Ok(Value::string_ctx(base.to_string(), ctx))
}

fn prim_dir_of(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

fn prim_cat_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let n = ev.force_string_noctx(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let s = ev.force_attrs(x.clone(), p)?;
        if let Some(v) = s.get(&n) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
}

/// Splits a version string into components as Nix's `splitVersion` does.
fn split_version(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '.' || c == '-' {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < b.len() && !b[i].is_ascii_digit() && b[i] != '.' && b[i] != '-' {
                i += 1;
            }
        }
        out.push(b[start..i].iter().collect());
    }
    out
}

fn component_lt(c1: &str, c2: &str) -> bool {
    let n1 = c1.parse::<u64>().ok();
    let n2 = c2.parse::<u64>().ok();
    match (n1, n2) {
        (Some(a), Some(b)) => a < b,
        _ => {
            if (c1.is_empty() && n2.is_some()) || (c1 == "pre" && c2 != "pre") {
                true
            } else if c2 == "pre" || n1.is_some() {
                false
            } else if n2.is_some() {
                true
            } else {
                c1 < c2
            }
        }
    }
}

pub(crate) fn compare_versions(a: &str, b: &str) -> i64 {
    let va = split_version(a);
    let vb = split_version(b);
    let n = va.len().max(vb.len());
    for i in 0..n {
        let c1 = va.get(i).map(String::as_str).unwrap_or("");
        let c2 = vb.get(i).map(String::as_str).unwrap_or("");
        if component_lt(c1, c2) {
            return -1;
        }
        if component_lt(c2, c1) {
            return 1;
        }
    }
    0
}

fn prim_compare_versions(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_string_noctx(a[0].clone(), p)?;
    let y = ev.force_string_noctx(a[1].clone(), p)?;
    Ok(Value::Int(compare_versions(&x, &y)))
}

fn prim_split_version(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_string_noctx(a[0].clone(), p)?;
    Ok(Value::list(
        split_version(&x).into_iter().map(Value::string).collect(),
    ))
}

fn prim_concat_lists(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        out.extend(ev.force_list(x.clone(), p)?.iter().cloned());
    }
    Ok(Value::list(out))
}

fn prim_concat_map(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        out.extend(ev.force_list(r, p)?.iter().cloned());
    }
    Ok(Value::list(out))
}

fn prim_concat_strings_sep(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let sep = ev.force_string(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut ctx = sep.ctx.clone();
    let mut out = String::new();
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep.s);
        }
        out.push_str(&ev.coerce_to_string(x.clone(), &mut ctx, false, true, p)?);
    }
    Ok(Value::string_ctx(out, ctx))
}

fn prim_elem(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[1].clone(), p)?;
    if l.is_empty() {
        // Nix forces the value only to compare it with an element.
        return Ok(Value::Bool(false));
    }
    let needle = ev.force(a[0].clone())?;
    for x in l.iter() {
        // A string or number against an element already forced is compared
        // in place: no count updates, no calls (`elem name list` is common).
        let found = match scalar_eq(&needle, x) {
            Some(eq) => eq,
            // As Nix's `eqValues`: the argument and an element that are the
            // same cell are equal without looking (`elem f [ f ]`, NaN).
            None => ev.eq_elements(&a[0], x, p)?,
        };
        if found {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `a == b` for two values of the same scalar type, `b` read through a
/// forced thunk; `None` when it takes `eq_values` (other types, or `b` not
/// yet forced).
fn scalar_eq(a: &Value, b: &Value) -> Option<bool> {
    fn same(a: &Value, b: &Value) -> Option<bool> {
        match (a, b) {
            (Value::Str(x), Value::Str(y)) => Some(x.s == y.s),
            (Value::Int(x), Value::Int(y)) => Some(x == y),
            (Value::Bool(x), Value::Bool(y)) => Some(x == y),
            (Value::Null, Value::Null) => Some(true),
            (Value::Path(x), Value::Path(y)) => Some(x == y),
            _ => None,
        }
    }
    match b {
        Value::Thunk(t) => match &*t.0.try_borrow().ok()? {
            ThunkState::Done(v) => same(a, v),
            _ => None,
        },
        b => same(a, b),
    }
}

fn prim_elem_at(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let i = ev.force_int(a[1].clone(), p)?;
    if i < 0 || i as usize >= l.len() {
        return err(format!("list index {i} is out of bounds"), p);
    }
    ev.force(l[i as usize].clone())
}

fn prim_filter(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        if ev.expect_bool(r, p)? {
            out.push(x.clone());
        }
    }
    if out.len() == l.len() {
        return Ok(Value::List(l));
    }
    Ok(Value::list(out))
}

fn prim_find_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

fn prim_foldl(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[2].clone(), p)?;
    let mut acc = a[1].clone();
    for x in l.iter() {
        acc = ev.call2(f.clone(), acc, x.clone(), p)?;
    }
    ev.force(acc)
}

fn json_to_value(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::attrs(Attrs::from_unsorted(
            o.into_iter()
                .map(|(k, v)| Attr {
                    name: k.into(),
                    value: json_to_value(v),
                    pos: Pos::NONE,
                })
                .collect(),
        )),
    }
}

/// The message joins the error's trace (without a position, as in Nix),
/// only when the value fails: the module system names the module argument
/// or definition being evaluated this way.
fn prim_add_error_context(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    match ev.force(a[1].clone()) {
        Ok(v) => Ok(v),
        Err(mut e) => {
            let mut ctx = Context::new();
            if let Ok(msg) = ev.coerce_to_string(a[0].clone(), &mut ctx, false, true, p) {
                e.trace.push((Pos::NONE, msg));
            }
            Err(e)
        }
    }
}

fn prim_from_json(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    match serde_json::from_str::<serde_json::Value>(&s) {
        Ok(j) => Ok(json_to_value(j)),
        // Worded after Nix's parser (nlohmann's), whose exception name
        // nixpkgs lib's tests look for.
        Err(e) => {
            let what = e.to_string();
            let what = what
                .rsplit_once(" at line ")
                .map_or(what.as_str(), |(w, _)| w)
                .to_owned();
            err(
                format!(
                    "[json.exception.parse_error.101] parse error at line {}, column {}: syntax error while parsing value - {what}",
                    e.line(),
                    e.column().max(1)
                ),
                p,
            )
        }
    }
}

fn toml_to_value(t: toml::Value) -> Value {
    match t {
        toml::Value::String(s) => Value::string(s),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::string(d.to_string()),
        toml::Value::Array(a) => Value::list(a.into_iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::attrs(Attrs::from_unsorted(
            t.into_iter()
                .map(|(k, v)| Attr {
                    name: k.into(),
                    value: toml_to_value(v),
                    pos: Pos::NONE,
                })
                .collect(),
        )),
    }
}

fn prim_from_toml(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    match s.parse::<toml::Table>() {
        Ok(t) => Ok(toml_to_value(toml::Value::Table(t))),
        Err(e) => err(format!("while parsing a TOML string: {e}"), p),
    }
}

fn prim_function_args(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    match ev.force(a[0].clone())? {
        Value::Lambda(c) => match &c.lambda.param {
            Param::Ident(_) => Ok(Value::attrs(Attrs::default())),
            Param::Pattern {
                formals, positions, ..
            } => Ok(Value::attrs(Attrs::from_unsorted(
                formals
                    .iter()
                    .zip(positions)
                    .map(|((n, d), pos)| Attr {
                        name: n.clone(),
                        value: Value::Bool(d.is_some()),
                        pos: *pos,
                    })
                    .collect(),
            ))),
        },
        Value::PrimOp(_) | Value::PrimOpApp(..) => Ok(Value::attrs(Attrs::default())),
        other => err(
            format!(
                "'functionArgs' requires a function, got {}",
                other.show_type()
            ),
            p,
        ),
    }
}

fn prim_gen_list(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let n = ev.force_int(a[1].clone(), p)?;
    if n < 0 {
        return err(format!("cannot create list of size {n}"), p);
    }
    let bulk = Rc::new(Bulk::GenList {
        f: a[0].clone(),
        pos: p,
    });
    Ok(Value::list(
        (0..n as usize)
            .map(|i| Value::thunk(ThunkState::Bulk(bulk.clone(), i)))
            .collect(),
    ))
}

fn prim_generic_closure(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let args = ev.force_attrs(a[0].clone(), p)?;
    let Some(start) = args.get("startSet").cloned() else {
        return err("attribute 'startSet' required", p);
    };
    let Some(op) = args.get("operator").cloned() else {
        return err("attribute 'operator' required", p);
    };
    let mut work: std::collections::VecDeque<Value> =
        ev.force_list(start, p)?.iter().cloned().collect();
    let mut done: Vec<Value> = Vec::new();
    let mut keys: Vec<Value> = Vec::new();
    while let Some(e) = work.pop_front() {
        let s = ev.force_attrs(e.clone(), p)?;
        let Some(key) = s.get("key").cloned() else {
            return err("attribute 'key' required", p);
        };
        let key = ev.force(key)?;
        let mut found = false;
        for k in &keys {
            if ev.eq_values(k.clone(), key.clone(), p)? {
                found = true;
                break;
            }
        }
        if found {
            continue;
        }
        keys.push(key);
        done.push(e.clone());
        let r = ev.call(op.clone(), e, p)?;
        let more = ev.force_list(r, p)?;
        work.extend(more.iter().cloned());
    }
    Ok(Value::list(done))
}

fn prim_get_attr(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let n = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_attrs(a[1].clone(), p)?;
    match s.get(&n) {
        Some(v) => ev.force(v.clone()),
        None => err(format!("attribute '{n}' missing"), p),
    }
}

fn prim_get_context(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string(a[0].clone(), p)?;
    // path → (path?, allOutputs?, outputs)
    let mut m: BTreeMap<String, (bool, bool, Vec<String>)> = BTreeMap::new();
    for c in &s.ctx {
        if let Some(rest) = c.strip_prefix('=') {
            m.entry(rest.to_string()).or_default().1 = true;
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, path)) = rest.split_once('!') {
                m.entry(path.to_string())
                    .or_default()
                    .2
                    .push(out.to_string());
            }
        } else {
            m.entry(c.clone()).or_default().0 = true;
        }
    }
    let attrs = m
        .into_iter()
        .map(|(path, (is_path, all, outs))| {
            let mut inner = Vec::new();
            if all {
                inner.push(Attr {
                    name: "allOutputs".into(),
                    value: Value::Bool(true),
                    pos: Pos::NONE,
                });
            }
            if !outs.is_empty() {
                inner.push(Attr {
                    name: "outputs".into(),
                    value: Value::list(outs.into_iter().map(Value::string).collect()),
                    pos: Pos::NONE,
                });
            }
            if is_path {
                inner.push(Attr {
                    name: "path".into(),
                    value: Value::Bool(true),
                    pos: Pos::NONE,
                });
            }
            Attr {
                name: path.into(),
                value: Value::attrs(Attrs::from_unsorted(inner)),
                pos: Pos::NONE,
            }
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(attrs)))
}

fn prim_append_context(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string(a[0].clone(), p)?;
    let c = ev.force_attrs(a[1].clone(), p)?;
    let mut ctx = s.ctx.clone();
    for at in c.iter() {
        let info = ev.force_attrs(at.value.clone(), p)?;
        if let Some(v) = info.get("path") {
            if ev.expect_bool(v.clone(), p)? {
                ctx.insert(at.name.to_string());
            }
        }
        if let Some(v) = info.get("allOutputs") {
            if ev.expect_bool(v.clone(), p)? {
                ctx.insert(format!("={}", at.name));
            }
        }
        if let Some(v) = info.get("outputs") {
            let outs = ev.force_list(v.clone(), p)?;
            for o in outs.iter() {
                let o = ev.force_string_noctx(o.clone(), p)?;
                ctx.insert(format!("!{o}!{}", at.name));
            }
        }
    }
    Ok(Value::string_ctx(s.s.clone(), ctx))
}

fn prim_group_by(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for x in l.iter() {
        let k = ev.call(f.clone(), x.clone(), p)?;
        let k = ev.force_string_without_context(k, p)?;
        groups.entry(k).or_default().push(x.clone());
    }
    Ok(Value::attrs(Attrs::from_sorted(
        groups
            .into_iter()
            .map(|(k, v)| Attr {
                name: k.into(),
                value: Value::list(v),
                pos: Pos::NONE,
            })
            .collect(),
    )))
}

pub(crate) fn hash_bytes(algo: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match algo {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn prim_hash_string(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let algo = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    match hash_bytes(&algo, s.s.as_bytes()) {
        Some(h) => Ok(Value::string(hex::encode(h))),
        None => err(format!("unknown hash algorithm '{algo}'"), p),
    }
}

fn prim_hash_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let algo = ev.force_string_noctx(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[1].clone(), &mut ctx, p)?;
    let data = read_file_bytes(ev, &path, p)?;
    match hash_bytes(&algo, &data) {
        Some(h) => Ok(Value::string(hex::encode(h))),
        None => err(format!("unknown hash algorithm '{algo}'"), p),
    }
}

fn read_file_bytes(ev: &mut Evaluator, path: &str, p: Pos) -> EvalResult<Vec<u8>> {
    ev.io.read_file(path).map_err(|e| {
        EvalError::new(
            ErrorKind::Io,
            format!("opening file '{path}': {}", crate::eval::io_msg(&e)),
            p,
        )
    })
}

fn prim_import(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
    let v = ev.import(&path, p)?;
    ev.force(v)
}

fn prim_scoped_import(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let scope = ev.force_attrs(a[0].clone(), p)?;
    let mut ctx = Context::new();
    let mut path = ev.coerce_to_path(a[1].clone(), &mut ctx, p)?;
    if let Ok(crate::io::FileType::Directory) = ev.io.file_type(&path) {
        path = format!("{path}/default.nix");
    }
    let names: Vec<Sym> = scope.iter().map(|a| a.name.clone()).collect();
    let vals: Vec<Value> = scope.iter().map(|a| a.value.clone()).collect();
    let e = ev.parse_file(&path, p, names)?;
    let env = Env::new(vals, Some(ev.globals.clone()));
    ev.eval(e, &env)
}

fn prim_intersect_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_attrs(a[0].clone(), p)?;
    let y = ev.force_attrs(a[1].clone(), p)?;
    Ok(Value::attrs(Attrs::from_sorted(
        y.iter()
            .filter(|at| x.get(&at.name).is_some())
            .cloned()
            .collect(),
    )))
}

fn prim_list_to_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let mut out: Vec<Attr> = Vec::with_capacity(l.len());
    crate::value::reserve_symbols(l.len());
    for x in l.iter() {
        let s = ev.force_attrs(x.clone(), p)?;
        let Some(n) = s.get("name").cloned() else {
            return err("attribute 'name' missing", p);
        };
        let n = ev.force_string_noctx(n, p)?;
        let Some(v) = s.get("value").cloned() else {
            return err("attribute 'value' missing", p);
        };
        out.push(Attr {
            name: n.into(),
            value: v,
            pos: s.get_attr("value").map(|a| a.pos).unwrap_or(Pos::NONE),
        });
    }
    // The first occurrence of a name wins: stable sort keeps order, dedup keeps the first.
    out.sort_by(|a, b| crate::value::name_cmp(&a.name, &b.name));
    out.dedup_by(|later, earlier| later.name == earlier.name);
    Ok(Value::attrs(Attrs::from_sorted(out)))
}

fn prim_map(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[1].clone(), p)?;
    let n = l.len();
    let bulk = Rc::new(Bulk::Map {
        f: a[0].clone(),
        list: l,
        pos: p,
    });
    Ok(Value::list(
        (0..n)
            .map(|i| Value::thunk(ThunkState::Bulk(bulk.clone(), i)))
            .collect(),
    ))
}

fn prim_map_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[1].clone(), p)?;
    let bulk = Rc::new(Bulk::MapAttrs {
        f: a[0].clone(),
        attrs: s.clone(),
        pos: p,
    });
    // An element names its attribute by place, so a set laid over another
    // (`prev // { … }`) is mapped without being copied first.
    let mut it = s.iter();
    let out = std::iter::from_fn(|| it.next_placed())
        .map(|(place, at)| Attr {
            name: at.name.clone(),
            value: Value::thunk(ThunkState::Bulk(bulk.clone(), place)),
            // Nix's mapAttrs makes new attributes without positions (the
            // module system tells generated options apart by this).
            pos: Pos::NONE,
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(out)))
}

fn prim_zip_attrs_with(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    // Nix 2.8 forces the function first, even when no attribute is ever used.
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut m: BTreeMap<Sym, Vec<Value>> = BTreeMap::new();
    for x in l.iter() {
        let s = ev.force_attrs(x.clone(), p)?;
        for at in s.iter() {
            m.entry(at.name.clone()).or_default().push(at.value.clone());
        }
    }
    Ok(Value::attrs(Attrs::from_sorted(
        m.into_iter()
            .map(|(k, vs)| {
                let f = f.clone();
                let name = Value::string(&*k);
                let list = Value::list(vs);
                Attr {
                    name: k,
                    value: Value::native(move |ev: &mut Evaluator| {
                        ev.call2(f.clone(), name.clone(), list.clone(), p)
                    }),
                    pos: Pos::NONE,
                }
            })
            .collect(),
    )))
}

pub(crate) fn get_regex(ev: &mut Evaluator, re: &str, p: Pos) -> EvalResult<Rc<regex::Regex>> {
    if let Some(r) = ev.regex_cache.get(re) {
        return Ok(r.clone());
    }
    let r = match regex::Regex::new(&format!("(?s)^(?:{})$", translate_posix(re))) {
        Ok(r) => Rc::new(r),
        Err(_) => return err(format!("invalid regular expression '{re}'"), p),
    };
    ev.regex_cache.insert(re.to_string(), r.clone());
    Ok(r)
}

/// POSIX ERE to Rust regex: character classes like `[[:alpha:]]` work in
/// both; a leading `]` in a bracket and unescaped `{` differ.
fn translate_posix(re: &str) -> String {
    let mut out = String::with_capacity(re.len());
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '[' {
            // Copy a bracket expression, escaping what Rust treats specially.
            out.push('[');
            i += 1;
            if i < chars.len() && chars[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < chars.len() && chars[i] == ']' {
                out.push_str("\\]");
                i += 1;
            }
            while i < chars.len() && chars[i] != ']' {
                if chars[i] == '[' && i + 1 < chars.len() && chars[i + 1] == ':' {
                    if let Some(end) = re[..].chars().skip(i).collect::<String>().find(":]") {
                        let s: String = chars[i..i + end + 2].iter().collect();
                        out.push_str(&s);
                        i += end + 2;
                        continue;
                    }
                }
                match chars[i] {
                    '\\' => out.push_str("\\\\"),
                    '[' => out.push_str("\\["),
                    '&' | '~' | '-' if false => {}
                    ch => out.push(ch),
                }
                i += 1;
            }
            out.push(']');
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn prim_match(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let re = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    let r = get_regex(ev, &re, p)?;
    match r.captures(&s.s) {
        Some(c) => Ok(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::string(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        )),
        None => Ok(Value::Null),
    }
}

fn prim_split(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let re = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_string(a[1].clone(), p)?;
    let r = match regex::Regex::new(&format!("(?s){}", translate_posix(&re))) {
        Ok(r) => r,
        Err(_) => return err(format!("invalid regular expression '{re}'"), p),
    };
    let mut out = Vec::new();
    let mut last = 0;
    for c in r.captures_iter(&s.s) {
        let m = c.get(0).expect("group 0 always matches");
        out.push(Value::string(&s.s[last..m.start()]));
        out.push(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::string(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        ));
        last = m.end();
    }
    out.push(Value::string(&s.s[last..]));
    Ok(Value::list(out))
}

fn prim_parse_drv_name(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_string_noctx(a[0].clone(), p)?;
    let b = s.as_bytes();
    let mut split = None;
    for i in 0..b.len() {
        if b[i] == b'-' && i + 1 < b.len() && !b[i + 1].is_ascii_alphabetic() {
            split = Some(i);
            break;
        }
    }
    let (name, version) = match split {
        Some(i) => (s[..i].to_string(), s[i + 1..].to_string()),
        None => (s.clone(), String::new()),
    };
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr {
            name: "name".into(),
            value: Value::string(name),
            pos: Pos::NONE,
        },
        Attr {
            name: "version".into(),
            value: Value::string(version),
            pos: Pos::NONE,
        },
    ])))
}

fn prim_partition(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        if ev.expect_bool(r, p)? {
            right.push(x.clone());
        } else {
            wrong.push(x.clone());
        }
    }
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr {
            name: "right".into(),
            value: Value::list(right),
            pos: Pos::NONE,
        },
        Attr {
            name: "wrong".into(),
            value: Value::list(wrong),
            pos: Pos::NONE,
        },
    ])))
}

fn prim_path_exists(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
    Ok(Value::Bool(ev.io.path_exists(&path)))
}

fn prim_placeholder(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let out = ev.force_string_noctx(a[0].clone(), p)?;
    let h = hash_bytes("sha256", format!("nix-output:{out}").as_bytes())
        .expect("sha256 is a known algorithm");
    Ok(Value::string(format!("/{}", nix32(&h))))
}

/// Nix's base-32 encoding (as used in store paths).
pub fn nix32(bytes: &[u8]) -> String {
    const ALPHA: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let len = (bytes.len() * 8).div_ceil(5);
    let mut s = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let c = (bytes[i] as u16 >> j)
            | if i + 1 < bytes.len() {
                (bytes[i + 1] as u16) << (8 - j)
            } else {
                0
            };
        s.push(ALPHA[(c & 0x1f) as usize] as char);
    }
    s
}

/// `readFileType` (Nix 2.14, which newer nixpkgs libs use): the type of the
/// path itself, a final symlink not followed, named as `readDir` names it.
fn prim_read_file_type(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
    let t = ev.io.file_type(&path).map_err(|e| {
        EvalError::new(
            ErrorKind::Io,
            format!("getting status of '{path}': {}", crate::eval::io_msg(&e)),
            p,
        )
    })?;
    Ok(Value::string(t.as_nix_str()))
}

fn prim_read_dir(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
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

fn prim_read_file(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
    let data = read_file_bytes(ev, &path, p)?;
    let s = String::from_utf8_lossy(&data).into_owned();
    Ok(Value::string_ctx(s, ctx))
}

fn prim_remove_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut names = HashSet::new();
    for x in l.iter() {
        names.insert(ev.force_string_noctx(x.clone(), p)?);
    }
    Ok(Value::attrs(Attrs::from_sorted(
        s.iter()
            .filter(|a| !names.contains(&*a.name))
            .cloned()
            .collect(),
    )))
}

fn prim_replace_strings(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let from = ev.force_list(a[0].clone(), p)?;
    let to = ev.force_list(a[1].clone(), p)?;
    if from.len() != to.len() {
        return err(
            "'from' and 'to' arguments to 'replaceStrings' have different lengths",
            p,
        );
    }
    let s = ev.force_string(a[2].clone(), p)?;
    let mut froms = Vec::new();
    for f in from.iter() {
        froms.push(ev.force_string(f.clone(), p)?);
    }
    let mut tos: Vec<Option<Rc<NixString>>> = vec![None; to.len()];
    let mut ctx = s.ctx.clone();
    let mut out = String::new();
    let bytes = s.s.as_bytes();
    let mut i = 0;
    loop {
        let mut matched = false;
        for (k, f) in froms.iter().enumerate() {
            if bytes[i..].starts_with(f.s.as_bytes()) {
                if tos[k].is_none() {
                    tos[k] = Some(ev.force_string(to[k].clone(), p)?);
                }
                let t = tos[k].as_ref().expect("just filled");
                out.push_str(&t.s);
                ctx.extend(t.ctx.iter().cloned());
                matched = true;
                if f.s.is_empty() {
                    if i < bytes.len() {
                        let ch = s.s[i..].chars().next().expect("i is below the length");
                        out.push(ch);
                        i += ch.len_utf8();
                    } else {
                        return Ok(Value::string_ctx(out, ctx));
                    }
                } else {
                    i += f.s.len();
                }
                break;
            }
        }
        if !matched {
            if i >= bytes.len() {
                break;
            }
            let ch = s.s[i..].chars().next().expect("i is below the length");
            out.push(ch);
            i += ch.len_utf8();
        }
        if i >= bytes.len() && !froms.iter().any(|f| f.s.is_empty()) {
            break;
        }
    }
    Ok(Value::string_ctx(out, ctx))
}

fn prim_sort(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut v: Vec<Value> = l.iter().cloned().collect();
    // Merge sort so the comparator can fail; stable, as Nix's std::stable_sort.
    let mut error = None;
    merge_sort(&mut v, &mut |x, y| {
        if error.is_some() {
            return false;
        }
        let r = ev
            .call2(f.clone(), x.clone(), y.clone(), p)
            .and_then(|r| ev.expect_bool(r, p));
        match r {
            Ok(b) => b,
            Err(e) => {
                error = Some(e);
                false
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    Ok(Value::list(v))
}

fn merge_sort(v: &mut Vec<Value>, less: &mut dyn FnMut(&Value, &Value) -> bool) {
    if v.len() <= 1 {
        return;
    }
    let mid = v.len() / 2;
    let mut right = v.split_off(mid);
    merge_sort(v, less);
    merge_sort(&mut right, less);
    let left = std::mem::take(v);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if less(&right[j], &left[i]) {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    *v = out;
}

fn prim_store_path(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let path = ev.coerce_to_path(a[0].clone(), &mut ctx, p)?;
    let store_dir = ev.host.store_dir();
    let Some(rest) = path.strip_prefix(&format!("{store_dir}/")) else {
        return err(format!("path '{path}' is not in the Nix store"), p);
    };
    let top = format!("{store_dir}/{}", rest.split('/').next().unwrap_or(rest));
    ctx.insert(top);
    Ok(Value::string_ctx(path, ctx))
}

fn prim_substring(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let start = ev.force_int(a[0].clone(), p)?;
    let len = ev.force_int(a[1].clone(), p)?;
    let mut ctx = Context::new();
    let s = ev.coerce_to_string(a[2].clone(), &mut ctx, false, true, p)?;
    if start < 0 {
        return err("negative start position in 'substring'", p);
    }
    let b = s.as_bytes();
    let start = (start as usize).min(b.len());
    let end = if len < 0 {
        b.len()
    } else {
        start.saturating_add(len as usize).min(b.len())
    };
    let sub = String::from_utf8_lossy(&b[start..end]).into_owned();
    Ok(Value::string_ctx(sub, ctx))
}

fn prim_try_eval(ev: &mut Evaluator, a: &[Value], _p: Pos) -> EvalResult<Value> {
    let depth = ev.depth;
    let (ok, v) = match ev.force(a[0].clone()) {
        Ok(v) => (true, v),
        Err(e) if e.catchable() => {
            ev.depth = depth;
            (false, Value::Bool(false))
        }
        Err(e) => return Err(e),
    };
    Ok(Value::attrs(Attrs::from_sorted(vec![
        Attr {
            name: "success".into(),
            value: Value::Bool(ok),
            pos: Pos::NONE,
        },
        Attr {
            name: "value".into(),
            value: v,
            pos: Pos::NONE,
        },
    ])))
}

fn prim_to_xml(ev: &mut Evaluator, a: &[Value], _: Pos) -> EvalResult<Value> {
    let mut ctx = Context::new();
    let out = crate::xml::to_xml(ev, a[0].clone(), true, false, &mut ctx)?;
    Ok(Value::string_ctx(out, ctx))
}

pub fn mk_attrs(pairs: Vec<(&str, Value)>) -> Value {
    Value::attrs(Attrs::from_unsorted(
        pairs
            .into_iter()
            .map(|(n, v)| Attr {
                name: n.into(),
                value: v,
                pos: Pos::NONE,
            })
            .collect(),
    ))
}

pub fn str_value(s: String, ctx: Context) -> Value {
    Value::Str(new_nixstr(s, ctx))
}
