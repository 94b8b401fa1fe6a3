//! Calling functions: lambdas (binding a pattern's formals), primops and
//! their partial applications, and sets with `__functor`.

use std::rc::Rc;

use crate::compile::{Expr, Lambda, Param};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::value::{Closure, Env, Obj, Value};

use super::{call_trace, lambda_frames, Evaluator};

impl Evaluator {
    /// Applies a function value to two arguments (`f a b`), without making
    /// the intermediate closure when `f` is a curried lambda (`a: b: ...`).
    pub fn call2(&mut self, f: Value, a: Value, b: Value, pos: Pos) -> EvalResult<Value> {
        if let Value::Lambda(c) = &f {
            if let Some((inner, cenv)) = curried(c, &a) {
                return self.call_lambda(inner, &cenv, b, pos);
            }
        }
        let g = self.call(f, a, pos)?;
        self.call(g, b, pos)
    }

    /// Calls the lambda `lam` closed over `cenv`, as `call` calls a closure.
    pub(super) fn call_lambda(
        &mut self,
        lam: &'static Lambda,
        cenv: &Rc<Env>,
        arg: Value,
        pos: Pos,
    ) -> EvalResult<Value> {
        self.enter(pos)?;
        let r = self.apply_lambda(lam, cenv, arg, pos);
        self.depth -= 1;
        r.map_err(|e| call_trace(lambda_frames(e, lam, pos), pos))
    }

    /// Applies a function value to one argument.
    pub fn call(&mut self, f: Value, arg: Value, pos: Pos) -> EvalResult<Value> {
        self.enter(pos)?;
        let r = self.call_inner(f, arg, pos);
        self.depth -= 1;
        r
    }

    pub(super) fn apply_lambda(
        &mut self,
        lam: &'static Lambda,
        cenv: &Rc<Env>,
        arg: Value,
        pos: Pos,
    ) -> EvalResult<Value> {
        match &lam.param {
            Param::Ident(_) => {
                let env = Env::one(arg, Some(cenv.clone()));
                self.eval(&lam.body, &env)
            }
            Param::Pattern { .. } => {
                // Nix gives errors in matching the argument no call frames.
                let env = self.bind_pattern(lam, cenv, arg, pos).map_err(|mut e| {
                    e.in_arguments = true;
                    e
                })?;
                self.eval(&lam.body, &env)
            }
        }
    }

    /// Binds a pattern lambda's formals to the argument set (defaults stay lazy).
    pub(super) fn bind_pattern(
        &mut self,
        lam: &'static Lambda,
        cenv: &Rc<Env>,
        arg: Value,
        pos: Pos,
    ) -> EvalResult<Rc<Env>> {
        let Param::Pattern {
            formals,
            ellipsis,
            bind,
            defaults_rec,
            ..
        } = &lam.param
        else {
            unreachable!("bind_pattern is called on pattern lambdas only")
        };
        let argv = self.force(arg.clone())?;
        let Value::Attrs(attrs) = &argv else {
            return err(
                format!("value is {} while a set was expected", argv.show_type()),
                pos,
            );
        };
        let n = formals.len() + usize::from(*bind);
        // A default's thunk points at the frame that holds it.
        let recursive = *defaults_rec
            && formals
                .iter()
                .any(|(name, d)| d.is_some() && attrs.get_sym(name).is_none());
        let env = if recursive {
            Env::new_rec(Some(cenv.clone()))
        } else {
            Env::new(Vec::new(), Some(cenv.clone()))
        };
        let mut vals = Vec::with_capacity(n);
        let mut used = 0;
        for (name, default) in formals.iter() {
            match attrs.get_sym(name) {
                Some(v) => {
                    used += 1;
                    vals.push(v.clone());
                }
                None => match default {
                    Some(d) if *defaults_rec => vals.push(self.lazy_rec(d, &env)),
                    Some(d) => vals.push(self.lazy(d, cenv)),
                    None => {
                        return err(
                            format!(
                                "{} called without required argument '{name}'",
                                lambda_desc(lam)
                            ),
                            pos,
                        )
                    }
                },
            }
        }
        if !*ellipsis && used < attrs.len() {
            for a in attrs.iter() {
                if !formals.iter().any(|(n, _)| *n == a.name) {
                    let e = EvalError::new(
                        ErrorKind::Eval,
                        format!(
                            "{} called with unexpected argument '{}'",
                            lambda_desc(lam),
                            a.name
                        ),
                        pos,
                    );
                    return Err(e.suggest(&a.name, formals.iter().map(|(n, _)| n.as_str())));
                }
            }
        }
        if *bind {
            vals.push(argv.clone());
        }
        env.set_all(vals);
        Ok(env)
    }

    /// One error mapping per call (it costs on the hot path): a lambda's frames, or just the
    /// position for primops.
    pub(super) fn call_inner(&mut self, f: Value, arg: Value, pos: Pos) -> EvalResult<Value> {
        match f {
            Value::Lambda(c) => self
                .apply_lambda(c.lambda, &c.env, arg, pos)
                .map_err(|e| call_trace(lambda_frames(e, c.lambda, pos), pos)),
            f => self.call_other(f, arg, pos).map_err(|e| call_trace(e, pos)),
        }
    }

    pub(super) fn call_other(&mut self, f: Value, arg: Value, pos: Pos) -> EvalResult<Value> {
        match f {
            Value::PrimOp(p) => {
                if p.arity == 1 {
                    (p.fun)(self, &[arg], pos)
                } else {
                    Ok(Value::PrimOpApp(Obj::new(crate::value::PartialApp {
                        op: p,
                        args: vec![arg],
                    })))
                }
            }
            Value::PrimOpApp(pa) => {
                let (p, args) = (&pa.op, &pa.args);
                let mut all = Vec::with_capacity(args.len() + 1);
                all.extend(args.iter().cloned());
                all.push(arg);
                if all.len() == p.arity {
                    (p.fun)(self, &all, pos)
                } else {
                    Ok(Value::PrimOpApp(Obj::new(crate::value::PartialApp {
                        op: p.clone(),
                        args: all,
                    })))
                }
            }
            Value::Attrs(a) if a.get("__functor").is_some() => {
                let functor = a.get("__functor").cloned().expect("checked above");
                let functor = self.force(functor)?;
                let g = self.call(functor, Value::Attrs(a.clone()), pos)?;
                self.call(g, arg, pos)
            }
            Value::Thunk(_) => {
                let f = self.force(f)?;
                self.call_inner(f, arg, pos)
            }
            other => err(
                format!(
                    "attempt to call something which is not a function but {}",
                    other.show_type()
                ),
                pos,
            ),
        }
    }
}

/// For a closure `a: b: body`, binds `a` and returns the inner lambda with
/// its env: calling that is `c a`, without allocating the closure `b: body`.
#[inline]
pub(super) fn curried(c: &Closure, a: &Value) -> Option<(&'static Lambda, Rc<Env>)> {
    match (&c.lambda.param, &c.lambda.body) {
        (Param::Ident(_), Expr::Lambda(inner)) => {
            Some((&**inner, Env::one(a.clone(), Some(Rc::clone(&c.env)))))
        }
        _ => None,
    }
}

/// How Nix 2.8 names a function in messages: `'f' at FILE:L:C` for one bound to a name.
pub(super) fn lambda_desc(lam: &Lambda) -> String {
    let what = match &lam.name {
        Some(n) => format!("'{n}'"),
        None => "anonymous function".into(),
    };
    match crate::error::resolve(lam.pos) {
        Some(lc) => format!("{what} at {}:{}:{}", lc.file, lc.line, lc.col),
        None => what,
    }
}
