//! The tree-walking evaluator: forcing thunks, calling functions, operators,
//! coercions and equality, with Nix's semantics and error messages.

use std::collections::HashMap;
use std::rc::Rc;

use crate::compile::{BinOp, Expr, Key, Part};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::io::{EvalHost, EvalIo};
use crate::value::{
    Attr, Attrs, Closure, Context, Env, NixString, Obj, PrimOp, Sym, ThunkState, Value,
};

mod attrs;
mod call;
use call::curried;
mod coerce;
mod frames;
use frames::{attr_frame, attr_pos, blackhole_at, call_trace, lambda_frames, select_frame};
mod lazy;
mod load;
mod ops;

/// Options fixed for one evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// `-I` entries and `NIX_PATH` entries, in order: (prefix, path); empty prefix for plain dirs.
    pub search_path: Vec<(String, String)>,
    pub current_system: String,
    /// Deepest nesting of calls and thunk forcings before a clean stack-overflow error.
    pub max_depth: usize,
    /// Stack bytes evaluation may use before failing cleanly; measured from
    /// where the `Evaluator` was created, so create it on the thread that
    /// evaluates (see `run_with_big_stack`, whose stack is `EVAL_STACK_SIZE`).
    pub stack_budget: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            search_path: Vec::new(),
            current_system: "x86_64-linux".into(),
            max_depth: 200_000,
            stack_budget: crate::EVAL_STACK_SIZE / 8 * 7,
        }
    }
}

/// Parses a `NIX_PATH`-style string (`a=/x:/y`) into search-path entries.
pub fn parse_search_path(s: &str) -> Vec<(String, String)> {
    s.split(':')
        .filter(|e| !e.is_empty())
        .map(|e| match e.split_once('=') {
            Some((p, d)) => (p.to_string(), d.to_string()),
            None => (String::new(), e.to_string()),
        })
        .collect()
}

pub struct Evaluator {
    pub io: Box<dyn EvalIo>,
    pub host: Box<dyn EvalHost>,
    pub opts: EvalOptions,
    pub(crate) globals: Rc<Env>,
    pub(crate) global_names: Vec<Sym>,
    pub(crate) depth: usize,
    /// Address of a local in `new`: the top of the stack evaluation started from.
    stack_base: usize,
    import_cache: HashMap<String, Value>,
    pub(crate) regex_cache: HashMap<String, Rc<regex::Regex>>,
    /// Values for `derivation`, compiled from Nix source once.
    pub(crate) derivation_fn: Option<Value>,
    /// Modulo hashes etc. are kept by the host; here only the trace output.
    pub trace_sink: Box<dyn FnMut(&str)>,
    /// Where builtins' warnings go (`warning: …` on stderr by default).
    pub warning_sink: Box<dyn FnMut(&str)>,
    /// Set from another thread to stop this evaluation at its next call or
    /// thunk forcing, with an `Interrupted` error.
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

fn env_at(env: &Rc<Env>, depth: usize) -> &Rc<Env> {
    let mut e = env;
    for _ in 0..depth {
        e = e
            .parent
            .as_ref()
            .expect("compiler resolved depth within the env chain");
    }
    e
}

impl Evaluator {
    /// An evaluator with the language's own builtins; the store-making
    /// ones fail with "no store is available" (see [`Evaluator::with_builtins`]).
    pub fn new(io: Box<dyn EvalIo>, host: Box<dyn EvalHost>, opts: EvalOptions) -> Evaluator {
        Evaluator::with_builtins(io, host, opts, Vec::new())
    }

    /// An evaluator whose `builtins` also hold `extra`, replacing builtins of
    /// the same name: how the owner of a store adds `derivationStrict`,
    /// `toFile`, `path`, `filterSource` and the fetchers.
    pub fn with_builtins(
        io: Box<dyn EvalIo>,
        host: Box<dyn EvalHost>,
        opts: EvalOptions,
        extra: Vec<PrimOp>,
    ) -> Evaluator {
        crate::no_huge_pages();
        crate::value::cycles::start_thread();
        let mut opts = opts;
        // An evaluation thread that got a smaller stack than asked for (a small
        // machine) fails cleanly within what it has.
        opts.stack_budget = opts.stack_budget.min(crate::thread_stack_budget());
        let mut ev = Evaluator {
            io,
            host,
            opts,
            globals: Env::new(Vec::new(), None),
            global_names: Vec::new(),
            depth: 0,
            stack_base: stack_addr(),
            import_cache: HashMap::new(),
            regex_cache: HashMap::new(),
            derivation_fn: None,
            trace_sink: Box::new(|s| eprintln!("{}", trace_line(s))),
            warning_sink: Box::new(|m| eprintln!("{}", warning_line(m))),
            interrupt: None,
        };
        crate::builtins::install(&mut ev, extra);
        ev
    }

    pub(crate) fn enter(&mut self, pos: Pos) -> EvalResult<()> {
        if let Some(flag) = &self.interrupt {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(EvalError::new(
                    ErrorKind::Interrupted,
                    "evaluation interrupted",
                    pos,
                ));
            }
        }
        self.depth += 1;
        let used = self.stack_base.saturating_sub(stack_addr());
        if self.depth > self.opts.max_depth || used > self.opts.stack_budget {
            self.depth -= 1;
            return Err(EvalError::new(
                ErrorKind::StackOverflow,
                "stack overflow (possible infinite recursion)",
                pos,
            ));
        }
        Ok(())
    }

    /// Leaves what [`Evaluator::enter`] entered.
    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Forces a value to weak head normal form.
    #[inline]
    pub fn force(&mut self, v: Value) -> EvalResult<Value> {
        match v {
            Value::Thunk(t) => match t.done() {
                Some(v) => Ok(v),
                None => self.force_thunk(t),
            },
            v => Ok(v),
        }
    }

    #[inline(never)]
    fn force_thunk(&mut self, t: Obj<crate::value::Thunk>) -> EvalResult<Value> {
        let state = match t.replace(ThunkState::Blackhole) {
            ThunkState::Done(v) => {
                t.replace(ThunkState::Done(v.clone()));
                return Ok(v);
            }
            ThunkState::Blackhole => {
                return Err(EvalError::new(
                    ErrorKind::InfiniteRecursion,
                    "infinite recursion encountered",
                    Pos::NONE,
                ))
            }
            state => state,
        };
        if let Err(e) = self.enter(Pos::NONE) {
            t.replace(state);
            return Err(e);
        }
        let r = match &state {
            ThunkState::Pending(e, env) => self.eval(e, env),
            ThunkState::Apply(app) => {
                let (f, a, pos) = &**app;
                let f = f.clone();
                self.call(f, a.clone(), *pos)
            }
            ThunkState::Select(e, set) => self.force_select(e, set),
            ThunkState::Bulk(b, i) => self.force_bulk(b, *i),
            ThunkState::Native(f) => {
                let f = f.clone();
                f(self).and_then(|v| self.force(v))
            }
            _ => unreachable!("blackhole and done handled above"),
        };
        self.depth -= 1;
        match r {
            Ok(v) => {
                // The old state is the blackhole put in above (or, were the
                // thunk found garbage meanwhile, the walk's): nothing to drop.
                t.replace(ThunkState::Done(v.clone()));
                Ok(v)
            }
            Err(e) => {
                t.replace(state);
                Err(e)
            }
        }
    }

    /// Forces a `ThunkState::Select`: the last name of `e`'s path in `set`,
    /// with the trace frame `eval_select` gives.
    fn force_select(&mut self, e: &'static Expr, set: &Obj<Attrs>) -> EvalResult<Value> {
        let Expr::Select { path, pos, .. } = e else {
            unreachable!("a Select thunk holds a selection")
        };
        let Some(Key::Static(s, hint)) = path.last() else {
            unreachable!("a Select thunk's last name is static")
        };
        let found = set
            .get_sym_hinted(s, hint)
            .cloned()
            .expect("a Select thunk's name was found in its set");
        self.force(found).map_err(|err| {
            let at = set.get_attr(s.as_str()).map_or(Pos::NONE, |a| a.pos);
            let err = blackhole_at(err, if at.is_none() { *pos } else { at });
            let found_in = (
                Value::Attrs(set.clone()),
                std::borrow::Cow::Borrowed(s.as_str()),
            );
            select_frame(err, Some(found_in), path)
        })
    }

    fn force_bulk(&mut self, b: &crate::value::Bulk, i: usize) -> EvalResult<Value> {
        use crate::value::Bulk;
        match b {
            // The applications a primop makes have no call site in Nix's traces; errors
            // without a position still take the primop's.
            Bulk::GenList { f, pos } => self
                .call(f.clone(), Value::Int(i as i64), Pos::NOWHERE)
                .map_err(|e| call_trace(e, *pos)),
            Bulk::Map { f, list, pos } => self
                .call(f.clone(), list[i].clone(), Pos::NOWHERE)
                .map_err(|e| call_trace(e, *pos)),
            Bulk::ZipAttrs { f, args, pos } => {
                let (name, list) = &args[i];
                self.call2(f.clone(), name.clone(), list.clone(), *pos)
            }
            Bulk::MapAttrs { f, attrs, pos } => {
                let Some(at) = attrs.at_place(i) else {
                    unreachable!("mapAttrs makes one element per attribute")
                };
                // Errors read as they did when `call` forced `f`.
                let f = self.force(f.clone()).map_err(|e| call_trace(e, *pos))?;
                // `_: v: ...` (or `n: v: ...` not using `n`) needs no name
                // string: a set mapped that way has one per attribute.
                let name = match &f {
                    Value::Lambda(c) if !c.lambda.param_used => Value::Null,
                    _ => Value::string(&*at.name),
                };
                self.call2(f, name, at.value.clone(), Pos::NOWHERE)
                    .map_err(|e| call_trace(e, *pos))
            }
        }
    }

    /// `eval` of `WithVar`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_with_var(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::WithVar { name, withs, pos } = e else {
            unreachable!("eval_with_var is called on WithVar only")
        };
        {
            for d in withs {
                let slot = env_at(env, *d).get(0);
                // Nix's `evalAttrs` of a `with` set reports no position.
                let attrs = self.force_attrs(slot, Pos::NOWHERE)?;
                if let Some(v) = attrs.get_sym(name) {
                    let v = v.clone();
                    return self.force(v).map_err(|e| blackhole_at(e, *pos));
                }
            }
            err(format!("undefined variable '{name}'"), *pos)
        }
    }

    /// `eval` of `PathInterp`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_path_interp(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::PathInterp(parts) = e else {
            unreachable!("eval_path_interp is called on PathInterp only")
        };
        {
            let mut s = String::new();
            let mut ctx = Context::new();
            for p in parts {
                match p {
                    Part::Lit(l) => s.push_str(l),
                    Part::Expr(e, at) => {
                        let v = self.eval(e, env)?;
                        self.coerce_into(&mut s, v, &mut ctx, false, false, *at)?;
                    }
                }
            }
            Ok(Value::Path(crate::compile::canon_path(&s).into()))
        }
    }

    /// `eval` of `Select`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_select(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::Select {
            e: inner,
            path,
            default,
            pos,
        } = e
        else {
            unreachable!("eval_select is called on Select only")
        };
        {
            let mut v = self.eval(inner, env)?;
            // The set the last attribute was found in, and its name: Nix's trace frame for
            // an error in a selection points at that attribute.
            let mut found_in: Option<(Value, std::borrow::Cow<'static, str>)> = None;
            for (n, k) in path.iter().enumerate() {
                let (found, name) = match (k, &v) {
                    (Key::Static(s, hint), Value::Attrs(a)) => (
                        a.get_sym_hinted(s, hint).cloned(),
                        std::borrow::Cow::Borrowed(s.as_str()),
                    ),
                    _ => {
                        let name = match self.key_name(k, env) {
                            Ok(n) => n,
                            Err(e) => return Err(select_frame(e, found_in, path)),
                        };
                        let found = match &v {
                            Value::Attrs(a) => a.get(&name).cloned(),
                            _ => None,
                        };
                        (found, name)
                    }
                };
                match found {
                    Some(x) => {
                        let x = match self.force(x) {
                            Ok(x) => x,
                            Err(e) => {
                                // Nix forces a set on the way at the selection, the value
                                // found last at its attribute.
                                let at = if n + 1 == path.len() {
                                    attr_pos(&v, &name, *pos)
                                } else {
                                    *pos
                                };
                                let e = blackhole_at(e, at);
                                return Err(select_frame(e, Some((v, name)), path));
                            }
                        };
                        found_in = Some((std::mem::replace(&mut v, x), name));
                    }
                    None => {
                        if let Some(d) = default {
                            return self.eval(d, env);
                        }
                        let e = match &v {
                            Value::Attrs(a) => EvalError::new(
                                ErrorKind::Eval,
                                format!("attribute '{name}' missing"),
                                *pos,
                            )
                            .suggest(&name, a.iter().map(|a| a.name.as_str())),
                            other => EvalError::new(
                                ErrorKind::Eval,
                                format!("value is {} while a set was expected", other.show_type()),
                                *pos,
                            ),
                        };
                        return Err(select_frame(e, found_in, path));
                    }
                }
            }
            Ok(v)
        }
    }

    /// `eval` of `HasAttr`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_has_attr(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::HasAttr { e: inner, path } = e else {
            unreachable!("eval_has_attr is called on HasAttr only")
        };
        {
            let mut v = self.eval(inner, env)?;
            // Each set on the path is forced, the value found last is not:
            // `{ b = throw "x"; } ? b` is true, as in Nix.
            for (i, k) in path.iter().enumerate() {
                if i > 0 {
                    v = self.force(v)?;
                }
                let found = match (k, &v) {
                    (Key::Static(s, hint), Value::Attrs(a)) => a.get_sym_hinted(s, hint).cloned(),
                    _ => {
                        let name = self.key_name(k, env)?;
                        match &v {
                            Value::Attrs(a) => a.get(&name).cloned(),
                            _ => None,
                        }
                    }
                };
                match found {
                    Some(x) => v = x,
                    None => return Ok(Value::Bool(false)),
                }
            }
            Ok(Value::Bool(true))
        }
    }

    /// `eval` of `Assert`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_assert(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::Assert { c, body, pos, text } = e else {
            unreachable!("eval_assert is called on Assert only")
        };
        {
            let cv = self.eval(c, env)?;
            if self.expect_bool(cv, *pos)? {
                self.eval(body, env)
            } else {
                Err(EvalError::new(
                    ErrorKind::Assertion,
                    format!("assertion '{text}' failed"),
                    *pos,
                ))
            }
        }
    }

    /// `eval` of `Interp`, kept out of line so that `eval`'s frame (on the
    /// stack once per nesting level) stays small.
    #[inline(never)]
    fn eval_interp(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        let Expr::Interp(parts) = e else {
            unreachable!("eval_interp is called on Interp only")
        };
        {
            let mut s = String::new();
            let mut ctx = Context::new();
            for p in parts {
                match p {
                    Part::Lit(l) => s.push_str(l),
                    Part::Expr(e, at) => {
                        let v = self.eval(e, env)?;
                        self.coerce_into(&mut s, v, &mut ctx, false, true, *at)?;
                    }
                }
            }
            Ok(Value::string_ctx(s, ctx))
        }
    }

    #[inline]
    pub fn eval(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        // A variable whose value is already there (a third of the calls in
        // `modules`) is read without entering `eval_node`, whose entry and
        // exit (six registers saved, a 0.8 kB frame) cost more than the read.
        // A forced thunk stays in its slot here (`eval_node` writes its value
        // back): writing it back cost 1.7 % of `modules`' instructions, for no
        // change in its peak memory.
        match e {
            Expr::Var(d, i, _) => {
                if let Some(v) = env_at(env, *d).peek_forced(*i) {
                    return Ok(v);
                }
            }
            // Functions of their own: going through `eval_node` would add its
            // entry and exit to theirs.
            Expr::Select { .. } => return self.eval_select(e, env),
            Expr::HasAttr { .. } => return self.eval_has_attr(e, env),
            _ => {}
        }
        self.eval_node(e, env)
    }

    fn eval_node(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        match e {
            Expr::Int(i) => Ok(Value::Int(*i)),
            Expr::Float(f) => Ok(Value::Float(*f)),
            Expr::Str(s) => Ok(Value::Str(s.clone())),
            Expr::Path(p) => Ok(Value::Path(p.clone())),
            Expr::Var(d, i, pos) => {
                let frame = env_at(env, *d);
                match frame.get(*i) {
                    Value::Thunk(t) => {
                        let v = self
                            .force(Value::Thunk(t))
                            .map_err(|e| blackhole_at(e, *pos))?;
                        // The slot keeps the value, not the (now forced) thunk.
                        frame.set(*i, v.clone());
                        Ok(v)
                    }
                    v => Ok(v),
                }
            }
            Expr::WithVar { .. } => self.eval_with_var(e, env),
            Expr::SearchPath(p, pos) => self.find_file(p, *pos),
            Expr::PathInterp(..) => self.eval_path_interp(e, env),
            Expr::Attrs(a) => self.eval_attrs(a, env),
            Expr::List(items) => {
                let v: Vec<Value> = items.iter().map(|i| self.lazy(i, env)).collect();
                Ok(Value::list(v))
            }
            Expr::Select { .. } => self.eval_select(e, env),
            Expr::HasAttr { .. } => self.eval_has_attr(e, env),
            Expr::Apply { f, args, pos } => {
                let mut fv = self.eval(f, env)?;
                let mut rest = &args[..];
                while let Some((a, tail)) = rest.split_first() {
                    let av = self.lazy(a, env);
                    if let (Some(b), Value::Lambda(c)) = (tail.first(), &fv) {
                        if let Some((inner, cenv)) = curried(c, &av) {
                            let bv = self.lazy(b, env);
                            fv = self.call_lambda(inner, &cenv, bv, *pos)?;
                            rest = &tail[1..];
                            continue;
                        }
                    }
                    fv = self.call(fv, av, *pos)?;
                    rest = tail;
                }
                Ok(fv)
            }
            Expr::Lambda(l) => Ok(Value::Lambda(Obj::new(Closure::new(l, env.clone())))),
            Expr::Let {
                binds,
                body,
                rec: false,
            } => {
                let new = match &binds[..] {
                    [one] => Env::one(self.lazy(one, env), Some(env.clone())),
                    _ => Env::new(
                        binds.iter().map(|b| self.lazy(b, env)).collect(),
                        Some(env.clone()),
                    ),
                };
                self.eval(body, &new)
            }
            Expr::Let { binds, body, .. } => {
                let new = Env::new_rec(Some(env.clone()));
                let vals: Vec<Value> = binds.iter().map(|b| self.lazy_rec(b, &new)).collect();
                new.set_all(vals);
                self.eval(body, &new)
            }
            Expr::With { attrs, body } => {
                // Always a thunk of its own: Nix's `with` scope counts as
                // unevaluated until a variable is looked up in it, and only
                // then does it pass on what its set holds without a thunk
                // (`speculate_with_var`), which lazy printing shows.
                let a = Value::thunk(ThunkState::Pending(attrs, env.clone()));
                let new = Env::one(a, Some(env.clone()));
                self.eval(body, &new)
            }
            Expr::If { c, t, e: el, pos } => {
                let cv = self.eval(c, env)?;
                if self.expect_bool(cv, *pos)? {
                    self.eval(t, env)
                } else {
                    self.eval(el, env)
                }
            }
            Expr::Assert { .. } => self.eval_assert(e, env),
            Expr::Not(inner, _) => {
                // Nix's `evalBool` here has no position to report.
                let v = self.eval(inner, env)?;
                Ok(Value::Bool(!self.expect_bool(v, Pos::NOWHERE)?))
            }
            Expr::Neg(inner, pos) => {
                let v = self
                    .eval(inner, env)
                    .map_err(|e| ops::operand_err(e, BinOp::Sub, inner, *pos))?;
                self.arith(BinOp::Sub, Value::Int(0), v, *pos)
            }
            Expr::BinOp {
                op,
                l,
                r,
                pos,
                rpos,
            } => {
                // Integer fast path: no coercions, no re-forcing.
                if !matches!(op, BinOp::And | BinOp::Or | BinOp::Impl) {
                    let a = self
                        .eval(l, env)
                        .map_err(|e| ops::operand_err(e, *op, l, *pos))?;
                    if let Value::Int(x) = a {
                        let b = self
                            .eval(r, env)
                            .map_err(|e| ops::operand_err(e, *op, r, *pos))?;
                        if let Value::Int(y) = b {
                            if let Some(v) = ops::int_binop(*op, x, y) {
                                return Ok(v);
                            }
                        }
                        return self.binop_values(*op, a, b, *pos, *rpos);
                    }
                    // Nix checks the first operand of `+` and `//` before it
                    // evaluates the second: a type error there comes first.
                    match (op, &a) {
                        (BinOp::Add, Value::Float(_) | Value::Str(_) | Value::Path(_))
                        | (BinOp::Update, Value::Attrs(_)) => {}
                        (BinOp::Add, Value::Attrs(s))
                            if s.get("__toString").is_some() || s.get("outPath").is_some() => {}
                        (BinOp::Add, other) => {
                            return err(
                                format!("cannot coerce {} to a string", other.show_type()),
                                *pos,
                            )
                        }
                        (BinOp::Update, _) => {
                            self.force_attrs(a.clone(), *pos)?;
                        }
                        _ => {}
                    }
                    let b = self
                        .eval(r, env)
                        .map_err(|e| ops::operand_err(e, *op, r, *pos))?;
                    return self.binop_values(*op, a, b, *pos, *rpos);
                }
                self.binop(*op, l, r, env, *pos, *rpos)
            }
            Expr::Interp(..) => self.eval_interp(e, env),
            Expr::CurPos(pos) => Ok(self.pos_value(*pos)),
        }
    }

    pub(crate) fn pos_value(&mut self, pos: Pos) -> Value {
        match crate::error::nix_pos(pos) {
            Some(lc) => {
                let attrs = vec![
                    Attr {
                        name: "column".into(),
                        value: Value::Int(lc.col as i64),
                        pos: Pos::NONE,
                    },
                    Attr {
                        name: "file".into(),
                        // Nix 2.8 names an expression given as text by the text itself.
                        value: Value::string(if lc.file == "«string»" {
                            crate::error::source_text(pos).map_or(lc.file, |t| t.to_string())
                        } else {
                            lc.file
                        }),
                        pos: Pos::NONE,
                    },
                    Attr {
                        name: "line".into(),
                        value: Value::Int(lc.line as i64),
                        pos: Pos::NONE,
                    },
                ];
                Value::attrs(Attrs::from_sorted(attrs))
            }
            None => Value::Null,
        }
    }
}

/// The line `builtins.trace` prints on stderr for `s`, as Nix prints it:
/// colours only when stderr is a terminal.
pub fn trace_line(s: &str) -> String {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        format!("trace: {s}")
    } else {
        format!("trace: {}", crate::print::strip_ansi(s))
    }
}

/// The line an evaluation warning (`Evaluator::warning_sink`) prints on stderr.
pub fn warning_line(m: &str) -> String {
    format!("warning: {m}")
}

/// An address on the current stack (stacks grow down on every supported target).
#[inline(always)]
fn stack_addr() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

pub(crate) fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

/// The system's words for an I/O error, as Nix prints them (`strerror`, without Rust's
/// " (os error N)").
pub(crate) fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.rfind(" (os error ") {
                Some(i) if s.ends_with(')') => s[..i].to_string(),
                _ => s,
            }
        }
    }
}

pub(crate) fn new_nixstr(s: String, ctx: Context) -> Obj<NixString> {
    Obj::new(NixString { s, ctx })
}
