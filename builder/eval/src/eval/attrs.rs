//! Attribute set expressions: static and dynamic keys, `rec`, and
//! `__overrides`.

use std::rc::Rc;

use crate::compile::{AttrsExpr, Key};
use crate::error::{err, EvalResult, Pos};
use crate::value::{Attr, Attrs, Env, Sym, Value};

use super::Evaluator;

impl Evaluator {
    /// The name an attribute path element selects; a dynamic one is only
    /// looked up, so it is not interned. One that is no string is reported
    /// without a position, as Nix's `getName` does.
    pub(super) fn key_name(
        &mut self,
        k: &'static Key,
        env: &Rc<Env>,
    ) -> EvalResult<std::borrow::Cow<'static, str>> {
        match k {
            Key::Static(s, _) => Ok(std::borrow::Cow::Borrowed(s.as_str())),
            Key::Dynamic(e) => {
                let v = self.eval(e, env)?;
                let s = self.force_string_noctx(v, Pos::NOWHERE)?;
                Ok(std::borrow::Cow::Owned(s))
            }
        }
    }

    pub(super) fn eval_attrs(&mut self, a: &'static AttrsExpr, env: &Rc<Env>) -> EvalResult<Value> {
        let inner = if a.rec {
            let new = Env::new_rec(Some(env.clone()));
            let vals: Vec<Value> = a
                .statics
                .iter()
                .map(|(_, e, _)| self.lazy_rec(e, &new))
                .collect();
            new.set_all(vals);
            new
        } else {
            env.clone()
        };
        let mut attrs: Vec<Attr> = if a.rec {
            inner.with_vals(|vals| {
                a.statics
                    .iter()
                    .zip(vals.iter())
                    .map(|((n, _, p), v)| Attr {
                        name: n.clone(),
                        value: v.clone(),
                        pos: *p,
                    })
                    .collect()
            })
        } else {
            a.statics
                .iter()
                .map(|(n, e, p)| Attr {
                    name: n.clone(),
                    value: self.lazy(e, &inner),
                    pos: *p,
                })
                .collect()
        };
        if a.rec {
            self.apply_overrides(a, &inner, &mut attrs)?;
        }
        if a.dynamics.is_empty() {
            return Ok(Value::attrs(Attrs::from_sorted(attrs)));
        }
        for (k, v, p) in &a.dynamics {
            let kv = self.eval(k, &inner)?;
            if let Value::Null = kv {
                continue;
            }
            // Nix wants the name a string without saying where.
            let name: Sym = self.force_string_noctx(kv, Pos::NOWHERE)?.into();
            if let Some(first) = attrs.iter().find(|x| x.name == name) {
                let first = crate::error::pos_text(first.pos);
                return err(
                    format!("dynamic attribute '{name}' already defined at {first}"),
                    *p,
                );
            }
            attrs.push(Attr {
                name,
                value: self.lazy(v, &inner),
                pos: *p,
            });
        }
        Ok(Value::attrs(Attrs::from_unsorted(attrs)))
    }

    /// `rec { __overrides = { … }; … }`: the attributes of `__overrides`
    /// replace those of the set, in the set and in its recursive scope (so
    /// the other attributes see them), or are added; as in Nix, where this
    /// is the one way to override a recursive attribute.
    pub(super) fn apply_overrides(
        &mut self,
        a: &'static AttrsExpr,
        scope: &Rc<Env>,
        attrs: &mut Vec<Attr>,
    ) -> EvalResult<()> {
        let Some(i) = a.statics.iter().position(|(n, _, _)| &**n == "__overrides") else {
            return Ok(());
        };
        let pos = a.statics[i].2;
        let overrides = self.force_attrs(attrs[i].value.clone(), pos)?;
        let mut added = Vec::new();
        for o in overrides.iter() {
            match a.statics.iter().position(|(n, _, _)| *n == o.name) {
                Some(j) => {
                    attrs[j] = o.clone();
                    scope.set(j, o.value.clone());
                }
                None => added.push(o.clone()),
            }
        }
        if !added.is_empty() {
            attrs.extend(added);
            attrs.sort_by(|x, y| x.name.cmp(&y.name));
        }
        Ok(())
    }
}
