//! Forcing a value to the type an operation needs, and coercing values to
//! strings and paths, with Nix's error messages.

use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::value::{Attrs, Context, List, NixString, Obj, Value};

use super::Evaluator;

impl Evaluator {
    #[inline]
    pub fn expect_bool(&mut self, v: Value, pos: Pos) -> EvalResult<bool> {
        if let Value::Bool(b) = v {
            return Ok(b);
        }
        match self.force(v)? {
            Value::Bool(b) => Ok(b),
            other => err(
                format!(
                    "value is {} while a Boolean was expected",
                    other.show_type()
                ),
                pos,
            ),
        }
    }

    pub fn force_attrs(&mut self, v: Value, pos: Pos) -> EvalResult<Obj<Attrs>> {
        match self.force(v)? {
            Value::Attrs(a) => Ok(a),
            other => err(
                format!("value is {} while a set was expected", other.show_type()),
                pos,
            ),
        }
    }

    pub fn force_list(&mut self, v: Value, pos: Pos) -> EvalResult<Obj<List>> {
        match self.force(v)? {
            Value::List(l) => Ok(l),
            other => err(
                format!("value is {} while a list was expected", other.show_type()),
                pos,
            ),
        }
    }

    pub fn force_int(&mut self, v: Value, pos: Pos) -> EvalResult<i64> {
        match self.force(v)? {
            Value::Int(i) => Ok(i),
            other => err(
                format!(
                    "value is {} while an integer was expected",
                    other.show_type()
                ),
                pos,
            ),
        }
    }

    pub fn force_function(&mut self, v: Value, pos: Pos) -> EvalResult<Value> {
        let v = self.force(v)?;
        if v.is_function() || matches!(&v, Value::Attrs(a) if a.get("__functor").is_some()) {
            Ok(v)
        } else {
            err(
                format!("value is {} while a function was expected", v.show_type()),
                pos,
            )
        }
    }

    /// A string value (no coercion), with its context.
    pub fn force_string(&mut self, v: Value, pos: Pos) -> EvalResult<Obj<NixString>> {
        match self.force(v)? {
            Value::Str(s) => Ok(s),
            other => err(
                format!("value is {} while a string was expected", other.show_type()),
                pos,
            ),
        }
    }

    pub fn force_string_noctx(&mut self, v: Value, pos: Pos) -> EvalResult<String> {
        Ok(self.force_string(v, pos)?.s.clone())
    }

    /// Nix's `forceStringNoCtx`: a string that must not refer to store
    /// paths. (`force_string_noctx` drops the context without checking; its
    /// callers have not all been checked against Nix yet.)
    pub fn force_string_without_context(&mut self, v: Value, pos: Pos) -> EvalResult<String> {
        let s = self.force_string(v, pos)?;
        match s.ctx.iter().next() {
            None => Ok(s.s.clone()),
            Some(first) => err(
                format!(
                    "the string '{}' is not allowed to refer to a store path (such as '{first}')",
                    s.s
                ),
                pos,
            ),
        }
    }

    /// Nix's coerceToString: strings, paths (copied to the store if asked),
    /// sets with `__toString` or `outPath`; with `more`, also numbers, Booleans, null, lists.
    pub fn coerce_to_string(
        &mut self,
        v: Value,
        ctx: &mut Context,
        more: bool,
        copy: bool,
        pos: Pos,
    ) -> EvalResult<String> {
        let mut out = String::new();
        self.coerce_into(&mut out, v, ctx, more, copy, pos)?;
        Ok(out)
    }

    /// `coerce_to_string`, appending to `out`: interpolation and list
    /// coercion build one string rather than a string per part.
    pub fn coerce_into(
        &mut self,
        out: &mut String,
        v: Value,
        ctx: &mut Context,
        more: bool,
        copy: bool,
        pos: Pos,
    ) -> EvalResult<()> {
        use std::fmt::Write;
        let v = self.force(v)?;
        match v {
            Value::Str(s) => {
                ctx.extend(s.ctx.iter().cloned());
                out.push_str(&s.s);
            }
            Value::Path(p) => {
                if copy {
                    let sp = self.copy_path_to_store(&p, pos)?;
                    out.push_str(&sp);
                    ctx.insert(sp);
                } else {
                    out.push_str(&p);
                }
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get("__toString").cloned() {
                    let f = self.force(f)?;
                    let r = self.call(f, Value::Attrs(a.clone()), pos)?;
                    return self.coerce_into(out, r, ctx, more, copy, pos);
                }
                if let Some(o) = a.get("outPath").cloned() {
                    return self.coerce_into(out, o, ctx, more, copy, pos);
                }
                return err("cannot coerce a set to a string", pos);
            }
            Value::Int(i) if more => {
                let _ = write!(out, "{i}");
            }
            // printf's `%f`, as Nix's `std::to_string`: NaN is "nan" or "-nan" by its sign.
            Value::Float(f) if more && f.is_nan() => {
                out.push_str(if f.is_sign_negative() { "-nan" } else { "nan" });
            }
            Value::Float(f) if more => {
                let _ = write!(out, "{f:.6}");
            }
            Value::Bool(b) if more => {
                if b {
                    out.push('1');
                }
            }
            Value::Null if more => {}
            Value::List(l) if more => {
                let n = l.len();
                for (i, x) in l.iter().enumerate() {
                    let x = self.force(x.clone())?;
                    let empty_list = matches!(&x, Value::List(l2) if l2.is_empty());
                    self.coerce_into(out, x, ctx, more, copy, pos)?;
                    if i + 1 < n && !empty_list {
                        out.push(' ');
                    }
                }
            }
            other => {
                return err(
                    format!("cannot coerce {} to a string", other.show_type()),
                    pos,
                )
            }
        }
        Ok(())
    }

    /// Copies a source path into the store (cached per path), as interpolation does.
    pub(crate) fn copy_path_to_store(&mut self, p: &str, pos: Pos) -> EvalResult<String> {
        let name = p.rsplit('/').next().unwrap_or("").to_string();
        if !self.io.path_exists(p) {
            return Err(EvalError::new(
                ErrorKind::Io,
                format!("getting status of '{p}': No such file or directory"),
                pos,
            ));
        }
        self.host
            .copy_path(p, &name)
            .map_err(|e| EvalError::new(ErrorKind::Io, e.to_string(), pos))
    }

    /// Coerces to a path string: a path, or a string that is an absolute path.
    pub fn coerce_to_path(&mut self, v: Value, ctx: &mut Context, pos: Pos) -> EvalResult<String> {
        let s = self.coerce_to_string(v, ctx, false, false, pos)?;
        if !s.starts_with('/') {
            return err(
                format!("string '{s}' doesn't represent an absolute path"),
                pos,
            );
        }
        Ok(s)
    }
}
