//! Operators: arithmetic, `+` on strings and paths, comparison, equality,
//! and forcing a value deeply.

use std::collections::HashSet;
use std::rc::Rc;

use crate::compile::{BinOp, Expr};
use crate::error::{err, EvalResult, Pos};
use crate::value::{Attr, Attrs, Context, Env, Obj, Value};

use super::{as_f64, attr_frame, Evaluator};

impl Evaluator {
    pub(super) fn binop(
        &mut self,
        op: BinOp,
        l: &'static Expr,
        r: &'static Expr,
        env: &Rc<Env>,
        pos: Pos,
        rpos: Pos,
    ) -> EvalResult<Value> {
        match op {
            BinOp::And => {
                let a = self.eval(l, env)?;
                if !self.expect_bool(a, pos)? {
                    return Ok(Value::Bool(false));
                }
                let b = self.eval(r, env)?;
                Ok(Value::Bool(self.expect_bool(b, pos)?))
            }
            BinOp::Or => {
                let a = self.eval(l, env)?;
                if self.expect_bool(a, pos)? {
                    return Ok(Value::Bool(true));
                }
                let b = self.eval(r, env)?;
                Ok(Value::Bool(self.expect_bool(b, pos)?))
            }
            BinOp::Impl => {
                let a = self.eval(l, env)?;
                if !self.expect_bool(a, pos)? {
                    return Ok(Value::Bool(true));
                }
                let b = self.eval(r, env)?;
                Ok(Value::Bool(self.expect_bool(b, pos)?))
            }
            _ => {
                let a = self.eval(l, env).map_err(|e| operand_err(e, op, l, pos))?;
                let b = self.eval(r, env).map_err(|e| operand_err(e, op, r, pos))?;
                self.binop_values(op, a, b, pos, rpos)
            }
        }
    }

    /// `rpos` is where the right operand starts (see `add`).
    pub(crate) fn binop_values(
        &mut self,
        op: BinOp,
        a: Value,
        b: Value,
        pos: Pos,
        rpos: Pos,
    ) -> EvalResult<Value> {
        match op {
            BinOp::Eq => Ok(Value::Bool(self.eq_values(a, b, pos)?)),
            BinOp::Neq => Ok(Value::Bool(!self.eq_values(a, b, pos)?)),
            BinOp::Lt => Ok(Value::Bool(self.less_than(a, b, pos)?)),
            BinOp::Gt => Ok(Value::Bool(self.less_than(b, a, pos)?)),
            BinOp::Le => Ok(Value::Bool(!self.less_than(b, a, pos)?)),
            BinOp::Ge => Ok(Value::Bool(!self.less_than(a, b, pos)?)),
            BinOp::Concat => {
                let x = self.force_list(a, pos)?;
                let y = self.force_list(b, pos)?;
                if x.is_empty() {
                    return Ok(Value::List(y));
                }
                if y.is_empty() {
                    return Ok(Value::List(x));
                }
                let mut v = Vec::with_capacity(x.len() + y.len());
                v.extend(x.iter().cloned());
                v.extend(y.iter().cloned());
                Ok(Value::list(v))
            }
            BinOp::Update => {
                // Nix's `evalAttrs` for `//` reports no position.
                let x = self.force_attrs(a, Pos::NOWHERE)?;
                let y = self.force_attrs(b, Pos::NOWHERE)?;
                Ok(Value::Attrs(crate::value::update(x, y)))
            }
            BinOp::Add => self.add(a, b, pos, rpos),
            BinOp::Sub | BinOp::Mul | BinOp::Div => self.arith(op, a, b, pos),
            BinOp::And | BinOp::Or | BinOp::Impl => unreachable!("handled lazily in binop"),
        }
    }

    /// As Nix's string concatenation, a second operand that does not fit the first is
    /// reported at the second operand (`rpos`).
    pub(super) fn add(&mut self, a: Value, b: Value, pos: Pos, rpos: Pos) -> EvalResult<Value> {
        let a = self.force(a)?;
        match a {
            Value::Int(_) | Value::Float(_) => {
                let b = self.force(b)?;
                if !matches!(b, Value::Int(_) | Value::Float(_)) {
                    let what = if matches!(a, Value::Int(_)) {
                        "an integer"
                    } else {
                        "a float"
                    };
                    return err(format!("cannot add {} to {what}", b.show_type()), rpos);
                }
                self.arith(BinOp::Add, a, b, pos)
            }
            Value::Path(p) => {
                let mut ctx = Context::new();
                let s = self.coerce_to_string(b, &mut ctx, false, false, rpos)?;
                if !ctx.is_empty() {
                    return err(
                        "a string that refers to a store path cannot be appended to a path",
                        pos,
                    );
                }
                Ok(Value::Path(
                    crate::compile::canon_path(&format!("{p}{s}")).into(),
                ))
            }
            Value::Str(s) => {
                let mut ctx = s.ctx.clone();
                let t = self.coerce_to_string(b, &mut ctx, false, true, rpos)?;
                let mut out = String::with_capacity(s.s.len() + t.len());
                out.push_str(&s.s);
                out.push_str(&t);
                Ok(Value::string_ctx(out, ctx))
            }
            Value::Attrs(_) => {
                let mut ctx = Context::new();
                let s1 = self.coerce_to_string(a, &mut ctx, false, true, pos)?;
                let s2 = self.coerce_to_string(b, &mut ctx, false, true, rpos)?;
                Ok(Value::string_ctx(s1 + &s2, ctx))
            }
            // As Nix's string concatenation: the first operand cannot become
            // a string, which is an error before the second is evaluated (so
            // a `throw` there is never reached, and `tryEval` sees no throw).
            other => err(
                format!("cannot coerce {} to a string", other.show_type()),
                pos,
            ),
        }
    }

    pub(crate) fn arith(&mut self, op: BinOp, a: Value, b: Value, pos: Pos) -> EvalResult<Value> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Ok(Value::Int(match op {
                BinOp::Add => x.wrapping_add(*y),
                BinOp::Sub => x.wrapping_sub(*y),
                BinOp::Mul => x.wrapping_mul(*y),
                BinOp::Div => {
                    if *y == 0 {
                        return err("division by zero", pos);
                    }
                    // The one quotient that does not fit (`i64::MIN / -1`):
                    // Nix 2.8 fails rather than wrapping.
                    match x.checked_div(*y) {
                        Some(q) => q,
                        None => return err("overflow in integer division", pos),
                    }
                }
                _ => unreachable!("arith called with an arithmetic operator"),
            })),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let x = as_f64(&a);
                let y = as_f64(&b);
                Ok(Value::Float(match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => {
                        if y == 0.0 {
                            return err("division by zero", pos);
                        }
                        x / y
                    }
                    _ => unreachable!("arith called with an arithmetic operator"),
                }))
            }
            _ => Err(arith_type_error(op, &a, &b, pos)),
        }
    }

    pub fn less_than(&mut self, a: Value, b: Value, pos: Pos) -> EvalResult<bool> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Ok(x < y),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                Ok(as_f64(&a) < as_f64(&b))
            }
            (Value::Str(x), Value::Str(y)) => Ok(x.s < y.s),
            (Value::Path(x), Value::Path(y)) => Ok(x < y),
            (Value::List(x), Value::List(y)) => {
                let n = x.len().min(y.len());
                for i in 0..n {
                    if !self.eq_values(x[i].clone(), y[i].clone(), pos)? {
                        return self.less_than(x[i].clone(), y[i].clone(), pos);
                    }
                }
                Ok(x.len() < y.len())
            }
            // Nix's `CompareValues` throws without a position.
            _ => err(
                format!("cannot compare {} with {}", a.show_type(), b.show_type()),
                Pos::NOWHERE,
            ),
        }
    }

    // The position is threaded through for errors that nested comparisons may raise later.
    #[allow(clippy::only_used_in_recursion)]
    pub fn eq_values(&mut self, a: Value, b: Value, pos: Pos) -> EvalResult<bool> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        self.eq_forced(&a, &b, pos)
    }

    /// `eq_values` of two values already forced.
    fn eq_forced(&mut self, a: &Value, b: &Value, pos: Pos) -> EvalResult<bool> {
        Ok(match (a, b) {
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                as_f64(a) == as_f64(b)
            }
            (Value::Str(x), Value::Str(y)) => x.s == y.s,
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            // As Nix 2.8's eqValues: no shortcut for the same list or set,
            // every element is forced, and only then are two elements held
            // in the same cell equal without looking further (so `x == x`
            // forces what `x` holds, and may throw or recurse as in Nix).
            (Value::List(x), Value::List(y)) => {
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.eq_elements(p, q, pos)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if self.is_derivation(x)? && self.is_derivation(y)? {
                    if let (Some(p), Some(q)) = (x.get("outPath"), y.get("outPath")) {
                        return self.eq_values(p.clone(), q.clone(), pos);
                    }
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                // Two flat sets are compared as slices; the merging iterator
                // of layered ones cost more than the comparisons themselves.
                match (x.flat(), y.flat()) {
                    (Some(xs), Some(ys)) => self.eq_attr_seqs(xs.iter(), ys.iter(), pos)?,
                    _ => self.eq_attr_seqs(x.iter(), y.iter(), pos)?,
                }
            }
            _ => false,
        })
    }

    /// Two sets' attributes, in name order and as many of each: the same
    /// names, then equal values (Nix compares every name first).
    fn eq_attr_seqs<'a, I>(&mut self, xs: I, ys: I, pos: Pos) -> EvalResult<bool>
    where
        I: Iterator<Item = &'a Attr> + Clone,
    {
        if xs.clone().zip(ys.clone()).any(|(p, q)| p.name != q.name) {
            return Ok(false);
        }
        for (p, q) in xs.zip(ys) {
            if !self.eq_elements(&p.value, &q.value, pos)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Two elements of lists or sets: both forced, then equal at once when
    /// they are the same cell (functions included), else compared.
    pub(crate) fn eq_elements(&mut self, p: &Value, q: &Value, pos: Pos) -> EvalResult<bool> {
        let pv = self.force(p.clone())?;
        let qv = self.force(q.clone())?;
        if same_value(p, q) {
            return Ok(true);
        }
        self.eq_forced(&pv, &qv, pos)
    }

    pub fn is_derivation(&mut self, a: &Attrs) -> EvalResult<bool> {
        match a.get("type") {
            Some(t) => match self.force(t.clone())? {
                Value::Str(s) => Ok(s.s == "derivation"),
                _ => Ok(false),
            },
            None => Ok(false),
        }
    }

    /// Forces a value completely (as `--strict` and `deepSeq` do).
    pub fn deep_force(&mut self, v: Value, pos: Pos) -> EvalResult<Value> {
        let mut seen = HashSet::new();
        self.deep_force_seen(v, pos, &mut seen)
    }

    /// Sets and lists are visited once, by identity, as Nix's
    /// `forceValueDeep` does: a value that contains itself is finished.
    pub(super) fn deep_force_seen(
        &mut self,
        v: Value,
        pos: Pos,
        seen: &mut HashSet<usize>,
    ) -> EvalResult<Value> {
        // Nix's `forceValueDeep` has no position for what it finds being evaluated.
        let v = self
            .force(v)
            .map_err(|e| super::blackhole_at(e, Pos::NOWHERE))?;
        match &v {
            Value::Attrs(a) => {
                if !seen.insert(Obj::as_ptr(a) as *const u8 as usize) {
                    return Ok(v);
                }
                for at in a.iter() {
                    self.enter(pos)?;
                    let r = self.deep_force_seen(at.value.clone(), pos, seen);
                    self.depth -= 1;
                    r.map_err(|e| attr_frame(e, at))?;
                }
            }
            Value::List(l) => {
                if !seen.insert(Obj::as_ptr(l) as *const u8 as usize) {
                    return Ok(v);
                }
                for x in l.iter() {
                    self.enter(pos)?;
                    let r = self.deep_force_seen(x.clone(), pos, seen);
                    self.depth -= 1;
                    r?;
                }
            }
            _ => {}
        }
        Ok(v)
    }
}

/// Nested values that are the very same object compare equal without being
/// forced, as in Nix (where they are the same `Value*`); this makes `[f] == [f]`
/// true for a function `f`. A forced thunk is the same object as its value
/// (in Nix the thunk is overwritten by it).
pub(super) fn same_value(a: &Value, b: &Value) -> bool {
    if same_object(a, b) {
        return true;
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => same_object(&x, &y),
        (Some(x), None) => same_object(&x, b),
        (None, Some(y)) => same_object(a, &y),
        (None, None) => false,
    }
}

/// A forced thunk stands for its value.
pub(super) fn resolved(v: &Value) -> Option<Value> {
    match v {
        Value::Thunk(t) => t.done(),
        _ => None,
    }
}

pub(super) fn same_object(a: &Value, b: &Value) -> bool {
    // Two live objects of any kinds are at different addresses. `b`'s
    // address is looked at only when `a` has one: comparing both payloads
    // at once read a scalar's padding, which valgrind reports.
    match object_addr(a) {
        Some(p) => object_addr(b) == Some(p),
        None => false,
    }
}

/// Where the object a value refers to lives, for the kinds whose identity
/// `==` honours.
#[inline]
fn object_addr(v: &Value) -> Option<*const u8> {
    match v {
        Value::Thunk(x) => Some(Obj::as_ptr(x).cast()),
        Value::Lambda(x) => Some(Obj::as_ptr(x).cast()),
        Value::Attrs(x) => Some(Obj::as_ptr(x).cast()),
        Value::List(x) => Some(Obj::as_ptr(x).cast()),
        Value::PrimOp(x) => Some(Obj::as_ptr(x).cast()),
        _ => None,
    }
}

/// Nix 2.8 parses `-`, `*`, `/`, `<`, `>`, `<=`, `>=` and unary minus as calls of
/// `__sub`, `__mul`, `__div` and `__lessThan`: an operand that is a variable is passed as
/// the variable's value, which the primop forces at the operator's position. So a variable
/// found mid-evaluation there is reported at the operator, not at the variable.
#[cold]
pub(super) fn operand_err(
    mut e: Box<crate::error::EvalError>,
    op: BinOp,
    operand: &Expr,
    pos: Pos,
) -> Box<crate::error::EvalError> {
    let is_call = matches!(
        op,
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge
    );
    if let Expr::Var(_, _, at) = operand {
        if is_call
            && e.pos == *at
            && e.trace.is_empty()
            && matches!(e.kind, crate::error::ErrorKind::InfiniteRecursion)
        {
            e.pos = pos;
        }
    }
    e
}

/// The type error of `__sub`, `__mul` or `__div` in Nix 2.8: `__div` first wants its
/// divisor as a float; otherwise both operands are wanted as floats if either is one,
/// else as integers, the first first.
#[cold]
fn arith_type_error(op: BinOp, a: &Value, b: &Value, pos: Pos) -> Box<crate::error::EvalError> {
    let numeric = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_));
    let (bad, want) = if op == BinOp::Div && !numeric(b) {
        (b, "float")
    } else {
        let float = matches!(a, Value::Float(_)) || matches!(b, Value::Float(_));
        (
            if numeric(a) { b } else { a },
            if float { "float" } else { "integer" },
        )
    };
    let article = if want == "integer" { "an" } else { "a" };
    crate::error::EvalError::new(
        crate::error::ErrorKind::Eval,
        format!(
            "value is {} while {article} {want} was expected",
            bad.show_type()
        ),
        pos,
    )
}

/// `x op y` on two integers, for the operators that cannot fail on them (division
/// can): integer arithmetic wraps, as in Nix 2.8.
#[inline(always)]
pub(super) fn int_binop(op: BinOp, x: i64, y: i64) -> Option<Value> {
    Some(match op {
        BinOp::Add => Value::Int(x.wrapping_add(y)),
        BinOp::Sub => Value::Int(x.wrapping_sub(y)),
        BinOp::Mul => Value::Int(x.wrapping_mul(y)),
        BinOp::Lt => Value::Bool(x < y),
        BinOp::Le => Value::Bool(x <= y),
        BinOp::Gt => Value::Bool(x > y),
        BinOp::Ge => Value::Bool(x >= y),
        BinOp::Eq => Value::Bool(x == y),
        BinOp::Neq => Value::Bool(x != y),
        _ => return None,
    })
}
