//! Builtins over lists: folds, maps, filters, sorting and searching.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{err, EvalResult, Pos};
use crate::eval::Evaluator;
use crate::value::{Attr, Attrs, Bulk, Obj, ThunkState, Value};

pub(super) fn prim_all(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_any(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_concat_lists(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        out.extend(ev.force_list(x.clone(), p)?.iter().cloned());
    }
    Ok(Value::list(out))
}

pub(super) fn prim_concat_map(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let r = ev.call(f.clone(), x.clone(), p)?;
        out.extend(ev.force_list(r, p)?.iter().cloned());
    }
    Ok(Value::list(out))
}

pub(super) fn prim_elem(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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
pub(super) fn scalar_eq(a: &Value, b: &Value) -> Option<bool> {
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
        Value::Thunk(t) => same(a, &t.done()?),
        b => same(a, b),
    }
}

pub(super) fn prim_elem_at(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let l = ev.force_list(a[0].clone(), p)?;
    let i = ev.force_int(a[1].clone(), p)?;
    if i < 0 || i as usize >= l.len() {
        return err(format!("list index {i} is out of bounds"), p);
    }
    ev.force(l[i as usize].clone())
}

pub(super) fn prim_filter(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    let mut out = Vec::new();
    for x in l.iter() {
        // Nix's `filter` calls the predicate without a call site.
        let r = ev.call(f.clone(), x.clone(), Pos::NOWHERE)?;
        if ev.expect_bool(r, p)? {
            out.push(x.clone());
        }
    }
    if out.len() == l.len() {
        return Ok(Value::List(l));
    }
    Ok(Value::list(out))
}

pub(super) fn prim_foldl(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[2].clone(), p)?;
    let mut acc = a[1].clone();
    for x in l.iter() {
        acc = ev.call2(f.clone(), acc, x.clone(), p)?;
    }
    ev.force(acc)
}

pub(super) fn prim_gen_list(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_generic_closure(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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
    let mut keys = ClosureKeys::Empty;
    while let Some(e) = work.pop_front() {
        let s = ev.force_attrs(e.clone(), p)?;
        let Some(key) = s.get("key").cloned() else {
            return err("attribute 'key' required", p);
        };
        let key = ev.force(key)?;
        if !keys.insert(ev, key)? {
            continue;
        }
        done.push(e.clone());
        let r = ev.call(op.clone(), e, p)?;
        let more = ev.force_list(r, p)?;
        work.extend(more.iter().cloned());
    }
    Ok(Value::list(done))
}

/// The keys `genericClosure` has seen. Nix keeps them in a set ordered by
/// `<` (`CompareValues`), so keys are equal when neither is less, and keys
/// `<` cannot order are an error once there are two of them. Keys of one
/// kind that compare as they hash (strings, paths, integers) are kept in a
/// hash set; any other mix falls back to a sorted vector searched with `<`,
/// in the order Nix's set compares (the new key against the others, then
/// the one it may equal against it), so the same error comes first.
enum ClosureKeys {
    Empty,
    Strings(std::collections::HashSet<String>),
    Paths(std::collections::HashSet<String>),
    Ints(std::collections::HashSet<i64>),
    Ordered(Vec<Value>),
}

impl ClosureKeys {
    /// Adds `key` (forced); false when an equal key was there.
    fn insert(&mut self, ev: &mut Evaluator, key: Value) -> EvalResult<bool> {
        match (&mut *self, &key) {
            (ClosureKeys::Empty, Value::Str(s)) => {
                *self = ClosureKeys::Strings([s.s.clone()].into());
                Ok(true)
            }
            (ClosureKeys::Empty, Value::Path(q)) => {
                *self = ClosureKeys::Paths([(**q).clone()].into());
                Ok(true)
            }
            (ClosureKeys::Empty, Value::Int(i)) => {
                *self = ClosureKeys::Ints([*i].into());
                Ok(true)
            }
            (ClosureKeys::Empty, _) => {
                *self = ClosureKeys::Ordered(vec![key]);
                Ok(true)
            }
            (ClosureKeys::Strings(set), Value::Str(s)) => Ok(set.insert(s.s.clone())),
            (ClosureKeys::Paths(set), Value::Path(q)) => Ok(set.insert((**q).clone())),
            (ClosureKeys::Ints(set), Value::Int(i)) => Ok(set.insert(*i)),
            (ClosureKeys::Ordered(keys), _) => insert_ordered(ev, keys, key),
            (kind, _) => {
                // Integers and floats compare; any other pair of kinds is
                // an error, which comparing with any one key raises.
                let mut keys: Vec<Value> = match kind {
                    ClosureKeys::Strings(set) => set.drain().map(Value::string).collect(),
                    ClosureKeys::Paths(set) => {
                        set.drain().map(|q| Value::Path(Obj::new(q))).collect()
                    }
                    ClosureKeys::Ints(set) => set.drain().map(Value::Int).collect(),
                    _ => unreachable!("the other kinds matched above"),
                };
                keys.sort_by(|x, y| match (x, y) {
                    (Value::Int(a), Value::Int(b)) => a.cmp(b),
                    (Value::Str(a), Value::Str(b)) => a.s.cmp(&b.s),
                    (Value::Path(a), Value::Path(b)) => a.cmp(b),
                    _ => std::cmp::Ordering::Equal,
                });
                let inserted = insert_ordered(ev, &mut keys, key);
                *self = ClosureKeys::Ordered(keys);
                inserted
            }
        }
    }
}

/// Inserts `key` into `keys` (sorted by `<`) unless an equal key is there.
fn insert_ordered(ev: &mut Evaluator, keys: &mut Vec<Value>, key: Value) -> EvalResult<bool> {
    // Nix's messages for these comparisons carry no position.
    let (mut lo, mut hi) = (0, keys.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ev.less_than(key.clone(), keys[mid].clone(), Pos::NONE)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // `keys[lo - 1]` is not greater than `key`: equal unless it is less.
    if lo > 0 && !ev.less_than(keys[lo - 1].clone(), key.clone(), Pos::NONE)? {
        return Ok(false);
    }
    keys.insert(lo, key);
    Ok(true)
}

pub(super) fn prim_group_by(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_map(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_partition(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
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

pub(super) fn prim_sort(ev: &mut Evaluator, a: &[Value], p: Pos) -> EvalResult<Value> {
    let f = ev.force_function(a[0].clone(), p)?;
    let l = ev.force_list(a[1].clone(), p)?;
    // Nix 2.8 forces every element first, whatever the comparator looks at.
    for x in l.iter() {
        ev.force(x.clone())?;
    }
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

pub(super) fn merge_sort(v: &mut Vec<Value>, less: &mut dyn FnMut(&Value, &Value) -> bool) {
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
