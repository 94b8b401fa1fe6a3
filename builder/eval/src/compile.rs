//! Compiles rnix syntax into a compact tree the evaluator walks.
//!
//! Variables are resolved here to (depth, slot) pairs, so lookups at run time
//! never search by name except through `with`. Nested attribute paths
//! (`a.b = 1; a.c = 2;`) are merged here. The rowan tree is not kept: the
//! compiled tree is leaked (`&'static`) because thunks point into it and, as in
//! Nix, parsed code lives as long as the evaluation.

use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rowan::ast::AstNode;

use crate::error::{ErrorKind, EvalError, EvalResult, Pos};
use crate::value::{intern, NixString, Obj, Sym};

mod bindings;
mod scope;
mod show;
use scope::{Names, Scope};
use show::show;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Concat,
    Update,
    Add,
    Sub,
    Mul,
    Div,
    And,
    Or,
    Impl,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
}

pub enum Part {
    Lit(String),
    /// An interpolated expression and where its `${` is (Nix's errors in
    /// coercing it point there).
    Expr(Expr, Pos),
}

pub enum Key {
    /// A name written in the source, with where it was found last time.
    Static(Sym, crate::value::PlaceHint),
    Dynamic(Expr),
}

pub enum Param {
    Ident(Sym),
    Pattern {
        formals: Vec<(Sym, Option<Expr>)>,
        /// Where each formal is written (`functionArgs` gives them to
        /// `unsafeGetAttrPos`, which the module system's positions use).
        positions: Vec<Pos>,
        ellipsis: bool,
        bind: bool,
        /// The `@name` of the pattern, for `toXML`.
        bind_name: Option<Sym>,
        /// Whether a default may refer to the pattern's names (as
        /// `Let::rec`): if none can, the defaults are compiled in the scope
        /// outside and evaluated in the closure's frame.
        defaults_rec: bool,
    },
}

pub struct Lambda {
    pub param: Param,
    /// False for `x: body` whose body never refers to `x`: a caller that
    /// would have to build the argument (`mapAttrs` making the name string)
    /// may pass `null` instead.
    pub param_used: bool,
    pub body: Expr,
    pub pos: Pos,
    /// The attribute or let binding it is the value of (`f = x: …`), for traces; curried
    /// lambdas inside share it, as in Nix.
    pub name: Option<Sym>,
}

/// The first `N` expressions among `node`'s children, found in one pass (rnix's
/// accessors walk the children again for each, making a cursor per child).
fn exprs<const N: usize>(node: &rnix::SyntaxNode) -> [Option<ast::Expr>; N] {
    let mut found = [const { None }; N];
    for (slot, e) in found
        .iter_mut()
        .zip(node.children().filter_map(ast::Expr::cast))
    {
        *slot = Some(e);
    }
    found
}

/// Names a lambda after the binding it is the value of, as Nix's parser does.
fn name_lambda(e: &mut Expr, name: &Sym) {
    let mut e = e;
    while let Expr::Lambda(l) = e {
        l.name = Some(name.clone());
        e = &mut l.body;
    }
}

pub struct AttrsExpr {
    pub rec: bool,
    /// Sorted by name, no duplicates. For `rec`, slot i of the new env is statics[i].
    pub statics: Vec<(Sym, Expr, Pos)>,
    pub dynamics: Vec<(Expr, Expr, Pos)>,
}

pub enum Expr {
    Int(i64),
    Float(f64),
    Str(Obj<NixString>),
    Path(Obj<String>),
    /// `<name/sub>`, resolved against the search path at run time.
    SearchPath(String, Pos),
    /// An interpolated path; the first part already carries the base directory.
    PathInterp(Vec<Part>),
    /// A variable: how many frames up, its slot, and where it is written (an
    /// infinite recursion found by reading it is reported there, as Nix does).
    Var(usize, usize, Pos),
    WithVar {
        name: Sym,
        withs: Vec<usize>,
        pos: Pos,
    },
    Attrs(Box<AttrsExpr>),
    List(Vec<Expr>),
    Select {
        e: Box<Expr>,
        path: Vec<Key>,
        default: Option<Box<Expr>>,
        pos: Pos,
    },
    HasAttr {
        e: Box<Expr>,
        path: Vec<Key>,
    },
    Apply {
        f: Box<Expr>,
        args: Vec<Expr>,
        pos: Pos,
    },
    Lambda(Box<Lambda>),
    Let {
        binds: Vec<Expr>,
        body: Box<Expr>,
        /// Whether a binding may refer to the `let`'s own names. If none
        /// can, the bindings are compiled in the scope outside and their
        /// thunks point there: the frame is not in a cycle with them and
        /// needs no watching for cycles when it dies (`Env::new_rec`).
        rec: bool,
    },
    With {
        attrs: Box<Expr>,
        body: Box<Expr>,
    },
    If {
        c: Box<Expr>,
        t: Box<Expr>,
        e: Box<Expr>,
        pos: Pos,
    },
    Assert {
        c: Box<Expr>,
        body: Box<Expr>,
        pos: Pos,
        text: String,
    },
    BinOp {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
        pos: Pos,
        /// Where the right operand starts: Nix reports a bad second operand of `+` there.
        rpos: Pos,
    },
    Not(Box<Expr>, Pos),
    Neg(Box<Expr>, Pos),
    Interp(Vec<Part>),
    CurPos(Pos),
}

pub struct Compiler {
    file: u32,
    base_dir: String,
    scopes: Vec<Scope>,
    home: Option<String>,
}

/// Removes `.` and `..` components and duplicate or trailing slashes, as Nix's canonPath.
pub fn canon_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let mut s = String::with_capacity(p.len());
    for c in out {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

impl Compiler {
    /// `globals` are the names of the outermost scope (builtins visible without `builtins.`).
    pub fn new(file: u32, base_dir: String, globals: Vec<Sym>) -> Compiler {
        Compiler {
            file,
            base_dir,
            scopes: vec![Scope::Lexical(Names::new(globals))],
            home: std::env::var("HOME").ok(),
        }
    }

    fn pos<N: AstNode>(&self, n: &N) -> Pos {
        Pos {
            file: self.file,
            offset: u32::from(n.syntax().text_range().start()),
        }
    }

    fn error<T>(&self, msg: impl Into<String>, pos: Pos) -> EvalResult<T> {
        Err(EvalError::new(ErrorKind::Eval, msg, pos))
    }

    pub fn compile_root(&mut self, src: &str) -> EvalResult<Expr> {
        let root = match crate::parse_error::checked_tree(src) {
            Ok(root) => rnix::Root::cast(root).expect("the parse makes a root"),
            Err((msg, off)) => {
                return Err(EvalError::new(
                    ErrorKind::Parse,
                    msg,
                    Pos {
                        file: self.file,
                        offset: off,
                    },
                ))
            }
        };
        match root.expr() {
            Some(e) => self.expr(e),
            None => self.error("syntax error, unexpected end of file", Pos::NONE),
        }
    }

    fn ident_name(id: &ast::Ident) -> String {
        // The token's own text: a node's `text()` walks its tokens through
        // cursors, a measurable part of compiling every file.
        match id.ident_token() {
            Some(t) => t.text().to_string(),
            None => id.syntax().text().to_string(),
        }
    }

    fn expr(&mut self, e: ast::Expr) -> EvalResult<Expr> {
        let pos = self.pos(&e);
        Ok(match e {
            ast::Expr::Literal(l) => match l.kind() {
                ast::LiteralKind::Integer(i) => match i.value() {
                    Ok(v) => Expr::Int(v),
                    Err(_) => {
                        return self.error(format!("invalid integer '{}'", i.syntax().text()), pos)
                    }
                },
                ast::LiteralKind::Float(f) => {
                    let text = f.syntax().text().to_string();
                    match float_literal(&text) {
                        Some(v) => Expr::Float(v),
                        None => return self.error(format!("invalid float '{text}'"), pos),
                    }
                }
                ast::LiteralKind::Uri(u) => {
                    Expr::Str(Obj::new(NixString::plain(u.syntax().text())))
                }
            },
            ast::Expr::Ident(id) => {
                let name = Self::ident_name(&id);
                self.resolve(&name, 0, pos)?
            }
            ast::Expr::Paren(p) => match p.expr() {
                Some(e) => self.expr(e)?,
                None => return self.error("syntax error", pos),
            },
            ast::Expr::Root(r) => match r.expr() {
                Some(e) => self.expr(e)?,
                None => return self.error("syntax error", pos),
            },
            ast::Expr::Error(_) => return self.error("syntax error", pos),
            ast::Expr::Str(s) => self.string(&s, pos)?,
            ast::Expr::PathAbs(_) | ast::Expr::PathRel(_) | ast::Expr::PathHome(_) => {
                let p = match ast::Path::cast(e.syntax().clone()) {
                    Some(p) => p,
                    None => return self.error("bad path", pos),
                };
                self.path(p, pos)?
            }
            ast::Expr::PathSearch(s) => {
                let text = s
                    .content()
                    .map(|c| c.text().to_string())
                    .unwrap_or_default();
                let inner = text
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                Expr::SearchPath(inner, pos)
            }
            ast::Expr::List(l) => {
                let mut items = Vec::new();
                for i in l.items() {
                    items.push(self.expr(i)?);
                }
                // Compiled code lives as long as the evaluation: no spare room.
                items.shrink_to_fit();
                Expr::List(items)
            }
            ast::Expr::Apply(a) => {
                let mut args = Vec::new();
                let mut cur = ast::Expr::Apply(a);
                // Flatten `f a b c` into one call node.
                while let ast::Expr::Apply(a) = cur {
                    let [Some(f), Some(arg)] = exprs(a.syntax()) else {
                        return self.error("syntax error", pos);
                    };
                    args.push(arg);
                    cur = f;
                }
                let f = self.expr(cur)?;
                let mut cargs = Vec::with_capacity(args.len());
                for a in args.into_iter().rev() {
                    cargs.push(self.expr(a)?);
                }
                Expr::Apply {
                    f: Box::new(f),
                    args: cargs,
                    pos,
                }
            }
            ast::Expr::Select(s) => {
                let ([Some(inner), default], Some(ap)) = (exprs(s.syntax()), s.attrpath()) else {
                    return self.error("syntax error", pos);
                };
                let e = self.expr(inner)?;
                let path = self.attrpath(&ap)?;
                let default = match default {
                    Some(d) => Some(Box::new(self.expr(d)?)),
                    None => None,
                };
                Expr::Select {
                    e: Box::new(e),
                    path,
                    default,
                    pos,
                }
            }
            ast::Expr::HasAttr(h) => {
                let (Some(inner), Some(ap)) = (h.expr(), h.attrpath()) else {
                    return self.error("syntax error", pos);
                };
                Expr::HasAttr {
                    e: Box::new(self.expr(inner)?),
                    path: self.attrpath(&ap)?,
                }
            }
            ast::Expr::IfElse(i) => {
                let [Some(c), Some(t), Some(el)] = exprs(i.syntax()) else {
                    return self.error("syntax error", pos);
                };
                Expr::If {
                    pos,
                    c: Box::new(self.expr(c)?),
                    t: Box::new(self.expr(t)?),
                    e: Box::new(self.expr(el)?),
                }
            }
            ast::Expr::Assert(a) => {
                let (Some(c), Some(b)) = (a.condition(), a.body()) else {
                    return self.error("syntax error", pos);
                };
                let text = show(&c);
                Expr::Assert {
                    c: Box::new(self.expr(c)?),
                    body: Box::new(self.expr(b)?),
                    pos,
                    text,
                }
            }
            ast::Expr::UnaryOp(u) => {
                let Some(inner) = u.expr() else {
                    return self.error("syntax error", pos);
                };
                let e = Box::new(self.expr(inner)?);
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => Expr::Not(e, pos),
                    Some(ast::UnaryOpKind::Negate) => Expr::Neg(e, pos),
                    None => return self.error("syntax error", pos),
                }
            }
            ast::Expr::BinOp(b) => {
                let ([Some(l), Some(r)], Some(op)) = (exprs(b.syntax()), b.operator()) else {
                    return self.error("syntax error", pos);
                };
                use ast::BinOpKind as K;
                let op = match op {
                    K::Concat => BinOp::Concat,
                    K::Update => BinOp::Update,
                    K::Add => BinOp::Add,
                    K::Sub => BinOp::Sub,
                    K::Mul => BinOp::Mul,
                    K::Div => BinOp::Div,
                    K::And => BinOp::And,
                    K::Or => BinOp::Or,
                    K::Implication => BinOp::Impl,
                    K::Equal => BinOp::Eq,
                    K::NotEqual => BinOp::Neq,
                    K::Less => BinOp::Lt,
                    K::LessOrEq => BinOp::Le,
                    K::More => BinOp::Gt,
                    K::MoreOrEq => BinOp::Ge,
                    K::PipeLeft | K::PipeRight => {
                        return self.error("syntax error, unexpected pipe operator", pos)
                    }
                };
                let rpos = self.pos(&r);
                Expr::BinOp {
                    op,
                    l: Box::new(self.expr(l)?),
                    r: Box::new(self.expr(r)?),
                    pos,
                    rpos,
                }
            }
            ast::Expr::Lambda(l) => self.lambda(&l, pos)?,
            ast::Expr::LetIn(l) => {
                let Some(body) = l.body() else {
                    return self.error("syntax error", pos);
                };
                let set = self.collect_entries(l.entries(), false)?;
                if let Some((_, _, p)) = set.dynamics.first() {
                    return self.error("dynamic attributes not allowed in let", *p);
                }
                let names: Vec<Sym> = set.statics.iter().map(|(n, _, _)| n.clone()).collect();
                let rec = {
                    let set_of_names = bindings::name_set(&names);
                    set.statics
                        .iter()
                        .any(|(_, v, _)| v.mentions(&set_of_names))
                };
                let binds = self.in_scope(rec.then(|| names.clone()), |c| {
                    let binds = set.statics.into_iter().map(|(n, v, _)| {
                        let mut e = c.pval(v, usize::from(rec))?;
                        name_lambda(&mut e, &n);
                        Ok(e)
                    });
                    binds.collect::<EvalResult<Vec<Expr>>>()
                })?;
                let body = self.in_scope(Some(names), |c| c.expr(body))?;
                Expr::Let {
                    binds,
                    body: Box::new(body),
                    rec,
                }
            }
            ast::Expr::LegacyLet(l) => {
                // `let { a = 1; body = a; }` is `rec { ... }.body`.
                let set = self.collect_entries(l.entries(), false)?;
                let a = self.pset(set, true)?;
                Expr::Select {
                    e: Box::new(a),
                    path: vec![Key::Static("body".into(), Default::default())],
                    default: None,
                    pos,
                }
            }
            ast::Expr::AttrSet(s) => {
                let rec = s.rec_token().is_some();
                let set = self.collect_entries(s.entries(), rec)?;
                self.pset(set, rec)?
            }
            ast::Expr::With(w) => {
                let (Some(ns), Some(body)) = (w.namespace(), w.body()) else {
                    return self.error("syntax error", pos);
                };
                let attrs = self.expr(ns)?;
                self.scopes.push(Scope::With);
                let body = self.expr(body);
                self.scopes.pop();
                Expr::With {
                    attrs: Box::new(attrs),
                    body: Box::new(body?),
                }
            }
            ast::Expr::CurPos(_) => Expr::CurPos(pos),
        })
    }

    fn string(&mut self, s: &ast::Str, pos: Pos) -> EvalResult<Expr> {
        let parts = s.normalized_parts();
        let mut out = Vec::new();
        for p in parts {
            match p {
                InterpolPart::Literal(l) => out.push(Part::Lit(l)),
                InterpolPart::Interpolation(i) => match i.expr() {
                    Some(e) => out.push(Part::Expr(self.expr(e)?, self.pos(&i))),
                    None => return self.error("syntax error", pos),
                },
            }
        }
        Ok(match out.as_slice() {
            [] => Expr::Str(Obj::new(NixString::default())),
            [Part::Lit(_)] => match out.pop() {
                Some(Part::Lit(l)) => Expr::Str(Obj::new(NixString::plain(l))),
                _ => unreachable!("matched a single literal"),
            },
            _ => {
                out.shrink_to_fit();
                Expr::Interp(out)
            }
        })
    }

    fn path(&mut self, p: ast::Path, pos: Pos) -> EvalResult<Expr> {
        let mut parts = Vec::new();
        for (i, part) in p.parts().into_iter().enumerate() {
            match part {
                InterpolPart::Literal(l) => {
                    let mut t = l.text().to_string();
                    if i == 0 {
                        if let Some(rest) = t.strip_prefix("~/") {
                            match &self.home {
                                Some(h) => t = format!("{h}/{rest}"),
                                None => return self.error("cannot find home directory", pos),
                            }
                        } else if !t.starts_with('/') {
                            t = format!("{}/{}", self.base_dir, t);
                        }
                    }
                    parts.push(Part::Lit(t));
                }
                InterpolPart::Interpolation(ip) => match ip.expr() {
                    Some(e) => parts.push(Part::Expr(self.expr(e)?, self.pos(&ip))),
                    None => return self.error("syntax error", pos),
                },
            }
        }
        if parts.len() == 1 {
            if let Some(Part::Lit(l)) = parts.first() {
                return Ok(Expr::Path(canon_path(l).into()));
            }
        }
        parts.shrink_to_fit();
        Ok(Expr::PathInterp(parts))
    }

    fn lambda(&mut self, l: &ast::Lambda, pos: Pos) -> EvalResult<Expr> {
        let (Some(param), Some(body)) = (l.param(), l.body()) else {
            return self.error("syntax error", pos);
        };
        match param {
            ast::Param::IdentParam(ip) => {
                let name = ip.ident().map(|i| Self::ident_name(&i)).unwrap_or_default();
                let name: Sym = intern(&name);
                self.scopes
                    .push(Scope::Param(name.clone(), std::cell::Cell::new(false)));
                let body = self.expr(body);
                let used = match self.scopes.pop() {
                    Some(Scope::Param(_, used)) => used.get(),
                    // Scopes are pushed and popped in pairs.
                    _ => true,
                };
                Ok(Expr::Lambda(Box::new(Lambda {
                    param: Param::Ident(name),
                    param_used: used,
                    body: body?,
                    pos,
                    name: None,
                })))
            }
            ast::Param::Pattern(pat) => {
                let mut names: Vec<Sym> = Vec::new();
                let mut entries = Vec::new();
                let mut positions = Vec::new();
                for e in pat.pat_entries() {
                    let name: Sym =
                        intern(&e.ident().map(|i| Self::ident_name(&i)).unwrap_or_default());
                    if names.contains(&name) {
                        return self.error(
                            format!("duplicate formal function argument '{name}'"),
                            self.pos(&e),
                        );
                    }
                    names.push(name);
                    positions.push(self.pos(&e));
                    entries.push(e.default());
                }
                let bind = pat
                    .pat_bind()
                    .and_then(|b| b.ident())
                    .map(|i| Self::ident_name(&i));
                if let Some(b) = &bind {
                    if names.iter().any(|n| &**n == b.as_str()) {
                        return self
                            .error(format!("duplicate formal function argument '{b}'"), pos);
                    }
                    names.push(b.as_str().into());
                }
                let defaults_rec = {
                    let set_of_names = bindings::name_set(&names);
                    let mut defaults = entries.iter().flatten();
                    defaults.any(|d| bindings::code_mentions(d, &set_of_names))
                };
                let formals = self.in_scope(defaults_rec.then(|| names.clone()), |c| {
                    let formals = names
                        .iter()
                        .zip(entries)
                        .map(|(name, d)| Ok((name.clone(), d.map(|d| c.expr(d)).transpose()?)));
                    formals.collect::<EvalResult<Vec<_>>>()
                })?;
                let body = self.in_scope(Some(names), |c| c.expr(body));
                positions.shrink_to_fit();
                Ok(Expr::Lambda(Box::new(Lambda {
                    param: Param::Pattern {
                        formals,
                        positions,
                        ellipsis: pat.ellipsis_token().is_some(),
                        bind: bind.is_some(),
                        bind_name: bind.as_deref().map(intern),
                        defaults_rec,
                    },
                    param_used: true,
                    body: body?,
                    pos,
                    name: None,
                })))
            }
        }
    }
}

/// The text of a string literal without interpolation.
fn static_str(s: &ast::Str) -> Option<String> {
    let parts = s.normalized_parts();
    let mut out = String::new();
    for p in parts {
        match p {
            InterpolPart::Literal(l) => out.push_str(&l),
            InterpolPart::Interpolation(_) => return None,
        }
    }
    Some(out)
}

/// A float literal's value, or `None` where Nix 2.8's lexer rejects it: its
/// `strtod` reports a range error for a literal that overflows to infinity
/// or underflows to a subnormal number or to zero.
fn float_literal(text: &str) -> Option<f64> {
    let v: f64 = text.parse().ok()?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let nonzero = mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if v.is_infinite() || v.is_subnormal() || (v == 0.0 && nonzero) {
        return None;
    }
    Some(v)
}
