//! Values for expressions without evaluating them: a thunk, or the value
//! itself when making it is free and cannot fail (constants, forced
//! variables, integer arithmetic on forced integers), or a thunk that keeps
//! less of its scope (a selection from forced sets, a `with` variable).

use std::rc::Rc;

use crate::compile::{BinOp, Expr, Key};
use crate::value::{Attrs, Env, Obj, Sym, ThunkState, Value};

use super::ops::int_binop;
use super::{env_at, Evaluator};

impl Evaluator {
    /// A value for `e` in `env` without evaluating it (unless that is free).
    #[inline]
    pub(crate) fn lazy(&mut self, e: &'static Expr, env: &Rc<Env>) -> Value {
        match e {
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Path(p) => Value::Path(p.clone()),
            Expr::Var(d, i, _) => match env_at(env, *d).get(*i) {
                // A forced thunk is passed on as its value, sparing later
                // reads the indirection (Nix avoids these thunks too).
                Value::Thunk(t) => match t.done() {
                    Some(v) => v,
                    None => Value::Thunk(t),
                },
                v => v,
            },
            Expr::WithVar { name, withs, .. } => match speculate_with_var(name, withs, env) {
                Some(v) => v,
                None => Value::thunk(ThunkState::Pending(e, env.clone())),
            },
            Expr::Select {
                e: inner,
                path,
                default: None,
                ..
            } => match speculate_select(inner, path, env) {
                // Still a thunk when the value is there, as in Nix: printed
                // lazily, it shows as `<CODE>` until forced.
                Some(set) => Value::thunk(ThunkState::Select(e, set)),
                None => Value::thunk(ThunkState::Pending(e, env.clone())),
            },
            Expr::BinOp { op, l, r, .. } => match speculate_int(*op, l, r, env) {
                Some(v) => v,
                None => Value::thunk(ThunkState::Pending(e, env.clone())),
            },
            // Lambdas stay thunks until used, as in Nix, so that lazy printing
            // shows them as `<CODE>` exactly where Nix does.
            _ => Value::thunk(ThunkState::Pending(e, env.clone())),
        }
    }

    /// Like `lazy`, for bindings of an env still being filled (let, rec, formals
    /// defaults): a reference into that same env must stay a thunk.
    #[inline]
    pub(crate) fn lazy_rec(&mut self, e: &'static Expr, env: &Rc<Env>) -> Value {
        match e {
            Expr::Var(0, ..) => Value::thunk(ThunkState::Pending(e, env.clone())),
            _ => self.lazy(e, env),
        }
    }
}

/// `l op r` computed at once when it is integer arithmetic or comparison on
/// operands that are already integers (literals or forced variables): it
/// cannot fail, so there is no point in a thunk.
#[inline]
fn speculate_int(op: BinOp, l: &Expr, r: &Expr, env: &Rc<Env>) -> Option<Value> {
    let int = |e: &Expr| match e {
        Expr::Int(i) => Some(*i),
        Expr::Var(d, i, _) => env_at(env, *d).peek_int(*i),
        _ => None,
    };
    int_binop(op, int(l)?, int(r)?)
}

/// A variable from `with`, as Nix's `lookupVar` without evaluation: when
/// the `with` scopes searched until the one holding the name were already
/// looked into (their thunk forced), what that set holds (its thunk shared,
/// as `eval_with_var` would force it).
#[inline]
fn speculate_with_var(name: &Sym, withs: &[usize], env: &Rc<Env>) -> Option<Value> {
    for d in withs {
        let Value::Attrs(a) = env_at(env, *d).peek_forced(0)? else {
            return None;
        };
        if let Some(v) = a.get_sym(name) {
            return Some(v.clone());
        }
    }
    None
}

/// `x.a.b` without a thunk of its scope, when `x` is a variable, every set on
/// the way is already forced and the last holds the name: that last set, in
/// which the name is found again when the thunk is forced
/// (`ThunkState::Select`). The scope need not stay alive for it.
#[inline]
fn speculate_select(inner: &Expr, path: &[Key], env: &Rc<Env>) -> Option<Obj<Attrs>> {
    let Expr::Var(d, i, _) = inner else {
        return None;
    };
    let (last, init) = path.split_last()?;
    let mut set = env_at(env, *d).peek_forced(*i)?;
    for k in init {
        let (Value::Attrs(a), Key::Static(s, hint)) = (&set, k) else {
            return None;
        };
        set = match a.get_sym_hinted(s, hint)? {
            Value::Thunk(t) => t.done()?,
            v => v.clone(),
        };
    }
    let (Value::Attrs(a), Key::Static(s, hint)) = (set, last) else {
        return None;
    };
    a.get_sym_hinted(s, hint)?;
    Some(a)
}
