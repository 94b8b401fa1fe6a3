//! The builtins of Nix 2.8 that need no store. The ones that make store
//! objects (`toFile`, `path`, `derivationStrict`, ...) are placeholders that
//! fail here; the owner of a store registers the real ones (b8g-builder's
//! glue does).

use crate::compile::BinOp;
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::eval::{new_nixstr, Evaluator};
use crate::value::{Attr, Attrs, Context, Env, List, Obj, PrimOp, Sym, Value};

mod attrs;
mod files;
mod formats;
mod lists;
mod strings;

// The tables below name every builtin's function.
use attrs::*;
use files::*;
use formats::*;
use lists::*;
use strings::*;

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
            // Any value a string can be made of, as Nix's `coerceToString`.
            let mut ctx = Context::new();
            let s = ev.coerce_to_string(a[0].clone(), &mut ctx, false, true, p)?;
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
            value: Value::PrimOp(Obj::new(PrimOp { name, arity, fun })),
            pos: Pos::NONE,
        });
    }
    for op in extra {
        attrs.push(Attr {
            name: op.name.into(),
            value: Value::PrimOp(Obj::new(op)),
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
    let set = Obj::new(Attrs::from_unsorted(attrs));
    if let Value::Thunk(t) = &builtins_thunk {
        t.replace(crate::value::ThunkState::Done(Value::Attrs(set.clone())));
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
