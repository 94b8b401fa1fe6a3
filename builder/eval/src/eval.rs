//! The tree-walking evaluator: forcing thunks, calling functions, operators,
//! coercions and equality, with Nix's semantics and error messages.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::compile::{AttrsExpr, BinOp, Compiler, Expr, Key, Lambda, Param, Part};
use crate::error::{err, ErrorKind, EvalError, EvalResult, Pos};
use crate::io::{EvalHost, EvalIo};
use crate::value::{
    Attr, Attrs, Closure, Context, Env, List, NixString, PrimOp, Sym, ThunkState, Value,
};

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

    /// Parses and compiles source text; `name` is shown in errors, `base_dir` resolves relative paths.
    pub fn compile(&mut self, src: &str, name: &str, base_dir: &str) -> EvalResult<&'static Expr> {
        let file = crate::error::add_source(name.to_string(), src.into());
        let mut c = Compiler::new(file, base_dir.to_string(), self.global_names.clone());
        let e = c.compile_root(src)?;
        Ok(Box::leak(Box::new(e)))
    }

    /// Evaluates an expression given as text (like `-E`), to weak head normal form.
    pub fn eval_str(&mut self, src: &str, base_dir: &str) -> EvalResult<Value> {
        let e = self.compile(src, "«string»", base_dir)?;
        let env = self.globals.clone();
        self.eval(e, &env)
    }

    /// Parses and compiles source text now and returns its value unevaluated, as
    /// Nix does for `--arg NAME EXPR`: a syntax error is reported at once, an
    /// evaluation error only when the value is used.
    pub fn lazy_str(&mut self, src: &str, base_dir: &str) -> EvalResult<Value> {
        let e = self.compile(src, "«string»", base_dir)?;
        let env = self.globals.clone();
        Ok(self.lazy(e, &env))
    }

    /// Evaluates a file (like `import`), to weak head normal form.
    pub fn eval_file(&mut self, path: &str) -> EvalResult<Value> {
        let v = self.import(path, Pos::NONE)?;
        self.force(v)
    }

    pub(crate) fn import(&mut self, path: &str, pos: Pos) -> EvalResult<Value> {
        let mut path = crate::compile::canon_path(path);
        if let Ok(crate::io::FileType::Directory) = self.io.file_type(&path) {
            path = format!("{path}/default.nix");
        }
        if let Some(v) = self.import_cache.get(&path) {
            return Ok(v.clone());
        }
        let e = self.parse_file(&path, pos, Vec::new())?;
        let env = self.globals.clone();
        let v = self.lazy(e, &env);
        self.import_cache.insert(path, v.clone());
        Ok(v)
    }

    pub(crate) fn parse_file(
        &mut self,
        path: &str,
        pos: Pos,
        extra_scope: Vec<Sym>,
    ) -> EvalResult<&'static Expr> {
        let bytes = match corepkg(path) {
            Some(src) => Ok(src.as_bytes().to_vec()),
            None => self.io.read_file(path),
        };
        let bytes = bytes.map_err(|e| {
            EvalError::new(
                ErrorKind::Io,
                format!("getting status of '{path}': {}", io_msg(&e)),
                pos,
            )
        })?;
        let src = String::from_utf8_lossy(&bytes).into_owned();
        let dir = match path.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => path[..i].to_string(),
            None => ".".to_string(),
        };
        let file = crate::error::add_source(path.to_string(), src.as_str().into());
        let mut c = Compiler::new(file, dir, self.global_names.clone());
        if !extra_scope.is_empty() {
            c.push_scope(extra_scope);
        }
        let e = c.compile_root(&src)?;
        Ok(Box::leak(Box::new(e)))
    }

    /// A value for `e` in `env` without evaluating it (unless that is free).
    #[inline]
    pub(crate) fn lazy(&mut self, e: &'static Expr, env: &Rc<Env>) -> Value {
        match e {
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Path(p) => Value::Path(p.clone()),
            Expr::Var(d, i) => match env_at(env, *d).get(*i) {
                // A forced thunk is passed on as its value, sparing later
                // reads the indirection (Nix avoids these thunks too).
                Value::Thunk(t) => {
                    if let ThunkState::Done(v) = &*t.0.borrow() {
                        return v.clone();
                    }
                    Value::Thunk(t)
                }
                v => v,
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
            Expr::Var(0, _) => Value::thunk(ThunkState::Pending(e, env.clone())),
            _ => self.lazy(e, env),
        }
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
            Value::Thunk(t) => {
                if let ThunkState::Done(v) = &*t.0.borrow() {
                    return Ok(v.clone());
                }
                self.force_thunk(t)
            }
            v => Ok(v),
        }
    }

    #[inline(never)]
    fn force_thunk(&mut self, t: Rc<crate::value::Thunk>) -> EvalResult<Value> {
        {
            {
                let state = {
                    let mut b = t.0.borrow_mut();
                    match &*b {
                        ThunkState::Done(v) => return Ok(v.clone()),
                        ThunkState::Blackhole => {
                            return Err(EvalError::new(
                                ErrorKind::InfiniteRecursion,
                                "infinite recursion encountered",
                                Pos::NONE,
                            ))
                        }
                        _ => std::mem::replace(&mut *b, ThunkState::Blackhole),
                    }
                };
                self.enter(Pos::NONE)?;
                let r = match &state {
                    ThunkState::Pending(e, env) => self.eval(e, env),
                    ThunkState::Apply(app) => {
                        let (f, a, pos) = &**app;
                        let f = f.clone();
                        self.call(f, a.clone(), *pos)
                    }
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
                        *t.0.borrow_mut() = ThunkState::Done(v.clone());
                        Ok(v)
                    }
                    Err(e) => {
                        *t.0.borrow_mut() = state;
                        Err(e)
                    }
                }
            }
        }
    }

    fn force_bulk(&mut self, b: &crate::value::Bulk, i: usize) -> EvalResult<Value> {
        use crate::value::Bulk;
        match b {
            // The applications a primop makes have no call site in Nix's traces; errors
            // without a position still take the primop's.
            Bulk::GenList { f, pos } => self
                .call(f.clone(), Value::Int(i as i64), Pos::NONE)
                .map_err(|e| call_trace(e, *pos)),
            Bulk::Map { f, list, pos } => self
                .call(f.clone(), list[i].clone(), Pos::NONE)
                .map_err(|e| call_trace(e, *pos)),
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
                self.call2(f, name, at.value.clone(), Pos::NONE)
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
                let attrs = self.force_attrs(slot, *pos)?;
                if let Some(v) = attrs.get_sym(name) {
                    let v = v.clone();
                    return self.force(v);
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
            for k in path {
                let (found, name) = match (k, &v) {
                    (Key::Static(s), Value::Attrs(a)) => (
                        a.get_sym(s).cloned(),
                        std::borrow::Cow::Borrowed(s.as_str()),
                    ),
                    _ => {
                        let name = match self.key_name(k, env, *pos) {
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
                            Err(e) => return Err(select_frame(e, Some((v, name)), path)),
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
                    (Key::Static(s), Value::Attrs(a)) => a.get_sym(s).cloned(),
                    _ => {
                        let name = self.key_name(k, env, Pos::NONE)?;
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

    pub fn eval(&mut self, e: &'static Expr, env: &Rc<Env>) -> EvalResult<Value> {
        match e {
            Expr::Int(i) => Ok(Value::Int(*i)),
            Expr::Float(f) => Ok(Value::Float(*f)),
            Expr::Str(s) => Ok(Value::Str(s.clone())),
            Expr::Path(p) => Ok(Value::Path(p.clone())),
            Expr::Var(d, i) => {
                let frame = env_at(env, *d);
                match frame.get(*i) {
                    Value::Thunk(t) => {
                        let v = self.force(Value::Thunk(t))?;
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
            Expr::Lambda(l) => Ok(Value::Lambda(Rc::new(Closure {
                lambda: l,
                env: env.clone(),
            }))),
            Expr::Let { binds, body } => {
                let new = Env::new(Vec::new(), Some(env.clone()));
                crate::value::cycles::register(&new);
                let vals: Vec<Value> = binds.iter().map(|b| self.lazy_rec(b, &new)).collect();
                new.set_all(vals);
                self.eval(body, &new)
            }
            Expr::With { attrs, body } => {
                let a = self.lazy(attrs, env);
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
            Expr::Not(inner, pos) => {
                let v = self.eval(inner, env)?;
                Ok(Value::Bool(!self.expect_bool(v, *pos)?))
            }
            Expr::Neg(inner, pos) => {
                let v = self.eval(inner, env)?;
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
                    let a = self.eval(l, env)?;
                    if let Value::Int(x) = a {
                        let b = self.eval(r, env)?;
                        if let Value::Int(y) = b {
                            let v = match op {
                                BinOp::Add => Value::Int(x.wrapping_add(y)),
                                BinOp::Sub => Value::Int(x.wrapping_sub(y)),
                                BinOp::Mul => Value::Int(x.wrapping_mul(y)),
                                BinOp::Lt => Value::Bool(x < y),
                                BinOp::Le => Value::Bool(x <= y),
                                BinOp::Gt => Value::Bool(x > y),
                                BinOp::Ge => Value::Bool(x >= y),
                                BinOp::Eq => Value::Bool(x == y),
                                BinOp::Neq => Value::Bool(x != y),
                                _ => return self.binop_values(*op, a, b, *pos, *rpos),
                            };
                            return Ok(v);
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
                    let b = self.eval(r, env)?;
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

    /// The name an attribute path element selects; a dynamic one is only
    /// looked up, so it is not interned.
    fn key_name(
        &mut self,
        k: &'static Key,
        env: &Rc<Env>,
        pos: Pos,
    ) -> EvalResult<std::borrow::Cow<'static, str>> {
        match k {
            Key::Static(s) => Ok(std::borrow::Cow::Borrowed(s.as_str())),
            Key::Dynamic(e) => {
                let v = self.eval(e, env)?;
                let s = self.force_string_noctx(v, pos)?;
                Ok(std::borrow::Cow::Owned(s))
            }
        }
    }

    fn eval_attrs(&mut self, a: &'static AttrsExpr, env: &Rc<Env>) -> EvalResult<Value> {
        let inner = if a.rec {
            let new = Env::new(Vec::new(), Some(env.clone()));
            crate::value::cycles::register(&new);
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
            let name: Sym = self.force_string_noctx(kv, *p)?.into();
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
    fn apply_overrides(
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
    fn call_lambda(
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

    fn apply_lambda(
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
    fn bind_pattern(
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
        let env = Env::new(Vec::new(), Some(cenv.clone()));
        let mut vals = Vec::with_capacity(n);
        let mut used = 0;
        // A default's thunk points at the frame that holds it.
        let mut recursive = false;
        for (name, default) in formals.iter() {
            match attrs.get_sym(name) {
                Some(v) => {
                    used += 1;
                    vals.push(v.clone());
                }
                None => match default {
                    Some(d) => {
                        if !recursive {
                            recursive = true;
                            crate::value::cycles::register(&env);
                        }
                        vals.push(self.lazy_rec(d, &env))
                    }
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
    fn call_inner(&mut self, f: Value, arg: Value, pos: Pos) -> EvalResult<Value> {
        match f {
            Value::Lambda(c) => self
                .apply_lambda(c.lambda, &c.env, arg, pos)
                .map_err(|e| call_trace(lambda_frames(e, c.lambda, pos), pos)),
            f => self.call_other(f, arg, pos).map_err(|e| call_trace(e, pos)),
        }
    }

    fn call_other(&mut self, f: Value, arg: Value, pos: Pos) -> EvalResult<Value> {
        match f {
            Value::PrimOp(p) => {
                if p.arity == 1 {
                    (p.fun)(self, &[arg], pos)
                } else {
                    Ok(Value::PrimOpApp(Rc::new(crate::value::PartialApp {
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
                    Ok(Value::PrimOpApp(Rc::new(crate::value::PartialApp {
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

    pub fn force_attrs(&mut self, v: Value, pos: Pos) -> EvalResult<Rc<Attrs>> {
        match self.force(v)? {
            Value::Attrs(a) => Ok(a),
            other => err(
                format!("value is {} while a set was expected", other.show_type()),
                pos,
            ),
        }
    }

    pub fn force_list(&mut self, v: Value, pos: Pos) -> EvalResult<Rc<List>> {
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
    pub fn force_string(&mut self, v: Value, pos: Pos) -> EvalResult<Rc<NixString>> {
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

    fn find_file(&mut self, name: &str, pos: Pos) -> EvalResult<Value> {
        for (prefix, dir) in self.opts.search_path.clone() {
            let rest = if prefix.is_empty() {
                Some(name.to_string())
            } else if name == prefix {
                Some(String::new())
            } else {
                name.strip_prefix(&format!("{prefix}/"))
                    .map(|s| s.to_string())
            };
            if let Some(rest) = rest {
                let full = if rest.is_empty() {
                    dir.clone()
                } else {
                    format!("{dir}/{rest}")
                };
                if self.io.path_exists(&full) {
                    return Ok(Value::Path(crate::compile::canon_path(&full).into()));
                }
            }
        }
        // Nix ends the search path with `nix=/__corepkgs__`, its built-in files.
        if let Some(file) = name.strip_prefix("nix/") {
            let path = format!("{COREPKGS_DIR}/{file}");
            if corepkg(&path).is_some() {
                return Ok(Value::Path(path.into()));
            }
        }
        err(
            format!(
                "file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
            ),
            pos,
        )
    }

    fn binop(
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
                let a = self.eval(l, env)?;
                let b = self.eval(r, env)?;
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
                let x = self.force_attrs(a, pos)?;
                let y = self.force_attrs(b, pos)?;
                Ok(Value::Attrs(crate::value::update(x, y)))
            }
            BinOp::Add => self.add(a, b, pos, rpos),
            BinOp::Sub | BinOp::Mul | BinOp::Div => self.arith(op, a, b, pos),
            BinOp::And | BinOp::Or | BinOp::Impl => unreachable!("handled lazily in binop"),
        }
    }

    /// As Nix's string concatenation, a second operand that does not fit the first is
    /// reported at the second operand (`rpos`).
    fn add(&mut self, a: Value, b: Value, pos: Pos, rpos: Pos) -> EvalResult<Value> {
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
                    x.wrapping_div(*y)
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
            (Value::Int(_) | Value::Float(_), other) => err(
                format!(
                    "value is {} while an integer was expected",
                    other.show_type()
                ),
                pos,
            ),
            (other, _) => err(
                format!(
                    "value is {} while an integer was expected",
                    other.show_type()
                ),
                pos,
            ),
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
            _ => err(
                format!("cannot compare {} with {}", a.show_type(), b.show_type()),
                pos,
            ),
        }
    }

    // The position is threaded through for errors that nested comparisons may raise later.
    #[allow(clippy::only_used_in_recursion)]
    pub fn eq_values(&mut self, a: Value, b: Value, pos: Pos) -> EvalResult<bool> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        Ok(match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                as_f64(&a) == as_f64(&b)
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
                for (p, q) in x.iter().zip(y.iter()) {
                    if p.name != q.name {
                        return Ok(false);
                    }
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.eq_elements(&p.value, &q.value, pos)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    /// Two elements of lists or sets: both forced, then equal at once when
    /// they are the same cell (functions included), else compared.
    pub(crate) fn eq_elements(&mut self, p: &Value, q: &Value, pos: Pos) -> EvalResult<bool> {
        let pv = self.force(p.clone())?;
        let qv = self.force(q.clone())?;
        if same_value(p, q) {
            return Ok(true);
        }
        self.eq_values(pv, qv, pos)
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
    fn deep_force_seen(
        &mut self,
        v: Value,
        pos: Pos,
        seen: &mut HashSet<usize>,
    ) -> EvalResult<Value> {
        let v = self.force(v)?;
        match &v {
            Value::Attrs(a) => {
                if !seen.insert(Rc::as_ptr(a) as *const u8 as usize) {
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
                if !seen.insert(Rc::as_ptr(l) as *const u8 as usize) {
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

/// Where Nix's built-in expressions (`<nix/fetchurl.nix>`) appear to live.
const COREPKGS_DIR: &str = "/__corepkgs__";

/// The source of a built-in expression, by its path under `COREPKGS_DIR`.
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

fn corepkg(path: &str) -> Option<&'static str> {
    match path.strip_prefix(COREPKGS_DIR)? {
        "/fetchurl.nix" => Some(include_str!("corepkgs/fetchurl.nix")),
        _ => None,
    }
}

/// An address on the current stack (stacks grow down on every supported target).
#[inline(always)]
fn stack_addr() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Errors raised without a position (forcing, recursion) take the call site's.
#[cold]
fn call_trace(mut e: Box<EvalError>, pos: Pos) -> Box<EvalError> {
    if e.pos.is_none() {
        e.pos = pos;
    }
    e
}

/// How many trace frames an error keeps (Nix keeps all; a deep recursion would make
/// thousands).
const MAX_TRACE: usize = 64;

/// Nix 2.8's frames for an error in a function's body: the function, then where it was
/// called from.
#[cold]
fn lambda_frames(mut e: Box<EvalError>, lam: &Lambda, call: Pos) -> Box<EvalError> {
    if std::mem::take(&mut e.in_arguments) || e.trace.len() + 2 > MAX_TRACE {
        return e;
    }
    let what = match &lam.name {
        Some(n) => format!("while evaluating '{n}'"),
        None => "while evaluating anonymous lambda".to_string(),
    };
    e.trace.push((lam.pos, what));
    e.trace.push((call, "from call site".into()));
    e
}

/// Nix 2.8's frame for an error in a selection (`s.a.b`): the select's attribute path, at
/// the position of the attribute found last (`found_in`: its set and name), if any.
#[cold]
fn select_frame(
    mut e: Box<EvalError>,
    found_in: Option<(Value, std::borrow::Cow<'static, str>)>,
    path: &[Key],
) -> Box<EvalError> {
    let pos = match &found_in {
        Some((Value::Attrs(a), name)) => a.get_attr(name).map(|a| a.pos).unwrap_or(Pos::NONE),
        _ => Pos::NONE,
    };
    if pos.is_none() || e.trace.len() >= MAX_TRACE {
        return e;
    }
    let shown: Vec<String> = path
        .iter()
        .map(|k| match k {
            Key::Static(s) => s.to_string(),
            _ => "\"${...}\"".to_string(),
        })
        .collect();
    e.trace.push((
        pos,
        format!("while evaluating the attribute '{}'", shown.join(".")),
    ));
    e
}

/// Nix 2.8's frame for an error while forcing an attribute's value deeply.
#[cold]
fn attr_frame(mut e: Box<EvalError>, at: &Attr) -> Box<EvalError> {
    if !at.pos.is_none() && e.trace.len() < MAX_TRACE {
        e.trace.push((
            at.pos,
            format!("while evaluating the attribute '{}'", at.name),
        ));
    }
    e
}

/// For a closure `a: b: body`, binds `a` and returns the inner lambda with
/// its env: calling that is `c a`, without allocating the closure `b: body`.
#[inline]
fn curried(c: &Closure, a: &Value) -> Option<(&'static Lambda, Rc<Env>)> {
    match (&c.lambda.param, &c.lambda.body) {
        (Param::Ident(_), Expr::Lambda(inner)) => {
            Some((&**inner, Env::one(a.clone(), Some(c.env.clone()))))
        }
        _ => None,
    }
}

/// `l op r` computed at once when it is integer arithmetic or comparison on
/// operands that are already integers (literals or forced variables): it
/// cannot fail, so there is no point in a thunk.
#[inline]
fn speculate_int(op: BinOp, l: &Expr, r: &Expr, env: &Rc<Env>) -> Option<Value> {
    let int = |e: &Expr| match e {
        Expr::Int(i) => Some(*i),
        Expr::Var(d, i) => env_at(env, *d).peek_int(*i),
        _ => None,
    };
    if !matches!(
        op,
        BinOp::Add
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Eq
            | BinOp::Neq
    ) {
        return None;
    }
    let x = int(l)?;
    let y = int(r)?;
    Some(match op {
        BinOp::Add => Value::Int(x.wrapping_add(y)),
        BinOp::Sub => Value::Int(x.wrapping_sub(y)),
        BinOp::Mul => Value::Int(x.wrapping_mul(y)),
        BinOp::Lt => Value::Bool(x < y),
        BinOp::Le => Value::Bool(x <= y),
        BinOp::Gt => Value::Bool(x > y),
        BinOp::Ge => Value::Bool(x >= y),
        BinOp::Eq => Value::Bool(x == y),
        _ => Value::Bool(x != y),
    })
}

/// A forced thunk stands for its value.
fn resolved(v: &Value) -> Option<Value> {
    match v {
        Value::Thunk(t) => match &*t.0.borrow() {
            ThunkState::Done(x) => Some(x.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Nested values that are the very same object compare equal without being
/// forced, as in Nix (where they are the same `Value*`); this makes `[f] == [f]`
/// true for a function `f`. A forced thunk is the same object as its value
/// (in Nix the thunk is overwritten by it).
fn same_value(a: &Value, b: &Value) -> bool {
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

fn same_object(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Thunk(x), Value::Thunk(y)) => Rc::ptr_eq(x, y),
        (Value::Lambda(x), Value::Lambda(y)) => Rc::ptr_eq(x, y),
        (Value::Attrs(x), Value::Attrs(y)) => Rc::ptr_eq(x, y),
        (Value::List(x), Value::List(y)) => Rc::ptr_eq(x, y),
        (Value::PrimOp(x), Value::PrimOp(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

pub(crate) fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

/// How Nix 2.8 names a function in messages: `'f' at FILE:L:C` for one bound to a name.
fn lambda_desc(lam: &Lambda) -> String {
    let what = match &lam.name {
        Some(n) => format!("'{n}'"),
        None => "anonymous function".into(),
    };
    match crate::error::resolve(lam.pos) {
        Some(lc) => format!("{what} at {}:{}:{}", lc.file, lc.line, lc.col),
        None => what,
    }
}

pub(crate) fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

pub(crate) fn new_nixstr(s: String, ctx: Context) -> Rc<NixString> {
    Rc::new(NixString { s, ctx })
}
