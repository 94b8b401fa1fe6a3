//! Builtins over attribute sets, and `functionArgs`.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use crate::compile::Param;
use crate::error::{err, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Bulk, Sym, ThunkState, Value};

pub(super) fn prim_attr_names(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[0].clone(), p)?;
    Ok(Value::list(
        s.iter().map(|a| Value::string(&*a.name)).collect(),
    ))
}

pub(super) fn prim_attr_values(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let s = ev.force_attrs(a[0].clone(), p)?;
    Ok(Value::list(s.iter().map(|a| a.value.clone()).collect()))
}

pub(super) fn prim_cat_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_get_attr(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let n = ev.force_string_noctx(a[0].clone(), p)?;
    let s = ev.force_attrs(a[1].clone(), p)?;
    match s.get(&n) {
        Some(v) => ev.force(v.clone()),
        None => Err(missing_for_call(&n, "getAttr", p)),
    }
}

/// Nix's `getAttr` helper of builtins: `attribute 'x' missing for call to 'f'`. Nix
/// places it at where the set was written, then adds `while invoking 'f'`; b8g keeps no
/// position for a set, so it reports as Nix does for a set without one: at the call.
pub(super) fn missing_for_call(name: &str, f: &str, p: Pos) -> Box<crate::error::EvalError> {
    crate::error::EvalError::new(
        crate::error::ErrorKind::Eval,
        format!("attribute '{name}' missing for call to '{f}'"),
        p,
    )
}

pub(super) fn prim_intersect_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let x = ev.force_attrs(a[0].clone(), p)?;
    let y = ev.force_attrs(a[1].clone(), p)?;
    Ok(Value::attrs(Attrs::from_sorted(
        y.iter()
            .filter(|at| x.get(&at.name).is_some())
            .cloned()
            .collect(),
    )))
}

pub(super) fn prim_list_to_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let mut out: Vec<Attr> = Vec::with_capacity(l.len());
    crate::value::reserve_symbols(l.len());
    for x in l.iter() {
        let s = ev.force_attrs(x.clone(), p)?;
        let Some(name) = s.get_attr("name") else {
            return Err(missing_for_call("name", "listToAttrs", p));
        };
        // The name is wanted a string at its own attribute, as in Nix.
        let at = if name.pos.is_none() { p } else { name.pos };
        let n = ev.force_string_noctx(name.value.clone(), at)?;
        let Some(v) = s.get("value").cloned() else {
            return Err(missing_for_call("value", "listToAttrs", p));
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

pub(super) fn prim_map_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_zip_attrs_with(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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
    let (names, args): (Vec<Sym>, Vec<(Value, Value)>) = m
        .into_iter()
        .map(|(k, vs)| {
            let name = Value::string(&*k);
            (k, (name, Value::list(vs)))
        })
        .unzip();
    let bulk = Rc::new(Bulk::ZipAttrs { f, args, pos: p });
    Ok(Value::attrs(Attrs::from_sorted(
        names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Attr {
                name,
                value: Value::thunk(ThunkState::Bulk(bulk.clone(), i)),
                pos: Pos::NONE,
            })
            .collect(),
    )))
}

pub(super) fn prim_remove_attrs(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_function_args(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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
        _ => err("'functionArgs' requires a function", p),
    }
}
