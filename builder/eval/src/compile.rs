//! Compiles rnix's syntax tree, read as green nodes (`compile/syntax.rs`), into a
//! compact tree the evaluator walks.
//!
//! Variables are resolved here to (depth, slot) pairs, so lookups at run time
//! never search by name except through `with`. Nested attribute paths
//! (`a.b = 1; a.c = 2;`) are merged here. The rowan tree is not kept: the
//! compiled tree is leaked (`&'static`) because thunks point into it and, as in
//! Nix, parsed code lives as long as the evaluation.

use rnix::ast;
use rnix::SyntaxKind::*;
use rowan::ast::AstNode;

use crate::error::{ErrorKind, EvalError, EvalResult, Pos};
use crate::value::{intern, NixString, Obj, Sym};

mod bindings;
mod scope;
mod show;
mod syntax;
use scope::{Names, Scope};
use show::show;
use syntax::{Node, StrPart};

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

    fn pos(&self, n: Node) -> Pos {
        self.at(n.offset)
    }

    fn at(&self, offset: u32) -> Pos {
        Pos {
            file: self.file,
            offset,
        }
    }

    fn error<T>(&self, msg: impl Into<String>, pos: Pos) -> EvalResult<T> {
        Err(EvalError::new(ErrorKind::Eval, msg, pos))
    }

    pub fn compile_root(&mut self, src: &str) -> EvalResult<Expr> {
        let root = match crate::parse_error::checked_tree(src) {
            Ok(root) => root,
            Err((msg, off)) => return Err(EvalError::new(ErrorKind::Parse, msg, self.at(off))),
        };
        let root = Node {
            green: root.green(),
            offset: 0,
        };
        match root.expr() {
            Some(e) => self.expr(e),
            None => self.error("syntax error, unexpected end of file", Pos::NONE),
        }
    }

    fn expr(&mut self, e: Node) -> EvalResult<Expr> {
        let pos = self.pos(e);
        let syntax_error = || Err(EvalError::new(ErrorKind::Eval, "syntax error", pos));
        Ok(match e.kind() {
            NODE_LITERAL => {
                let Some(t) = e.tokens().next() else {
                    return syntax_error();
                };
                match t.kind() {
                    TOKEN_INTEGER => match t.text().parse() {
                        Ok(v) => Expr::Int(v),
                        Err(_) => {
                            return self.error(format!("invalid integer '{}'", t.text()), pos)
                        }
                    },
                    TOKEN_FLOAT => match float_literal(t.text()) {
                        Some(v) => Expr::Float(v),
                        None => return self.error(format!("invalid float '{}'", t.text()), pos),
                    },
                    _ => Expr::Str(Obj::new(NixString::plain(t.text()))),
                }
            }
            NODE_IDENT => {
                let name = e.ident_name();
                self.resolve(&name, 0, pos)?
            }
            NODE_PAREN | NODE_ROOT => match e.expr() {
                Some(e) => self.expr(e)?,
                None => return syntax_error(),
            },
            NODE_STRING => self.string(e, pos)?,
            NODE_PATH_ABS | NODE_PATH_REL | NODE_PATH_HOME => self.path(e, pos)?,
            NODE_PATH_SEARCH => {
                let text = e.tokens().next().map(|t| t.text()).unwrap_or_default();
                let inner = text.trim_start_matches('<').trim_end_matches('>');
                Expr::SearchPath(inner.to_string(), pos)
            }
            NODE_LIST => {
                let mut items = Vec::new();
                for i in e.exprs() {
                    items.push(self.expr(i)?);
                }
                // Compiled code lives as long as the evaluation: no spare room.
                items.shrink_to_fit();
                Expr::List(items)
            }
            NODE_APPLY => {
                let mut args = Vec::new();
                let mut cur = e;
                // Flatten `f a b c` into one call node.
                while cur.kind() == NODE_APPLY {
                    let [Some(f), Some(arg)] = cur.first_exprs() else {
                        return syntax_error();
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
            NODE_SELECT => {
                let ([Some(inner), default], Some(ap)) = (e.first_exprs(), e.node(NODE_ATTRPATH))
                else {
                    return syntax_error();
                };
                let inner = self.expr(inner)?;
                let path = self.attrpath(ap)?;
                let default = match default {
                    Some(d) => Some(Box::new(self.expr(d)?)),
                    None => None,
                };
                Expr::Select {
                    e: Box::new(inner),
                    path,
                    default,
                    pos,
                }
            }
            NODE_HAS_ATTR => {
                let (Some(inner), Some(ap)) = (e.expr(), e.node(NODE_ATTRPATH)) else {
                    return syntax_error();
                };
                Expr::HasAttr {
                    e: Box::new(self.expr(inner)?),
                    path: self.attrpath(ap)?,
                }
            }
            NODE_IF_ELSE => {
                let [Some(c), Some(t), Some(el)] = e.first_exprs() else {
                    return syntax_error();
                };
                Expr::If {
                    pos,
                    c: Box::new(self.expr(c)?),
                    t: Box::new(self.expr(t)?),
                    e: Box::new(self.expr(el)?),
                }
            }
            NODE_ASSERT => {
                let [Some(c), Some(b)] = e.first_exprs() else {
                    return syntax_error();
                };
                let text = ast::Expr::cast(c.cursor())
                    .map(|c| show(&c))
                    .unwrap_or_default();
                Expr::Assert {
                    c: Box::new(self.expr(c)?),
                    body: Box::new(self.expr(b)?),
                    pos,
                    text,
                }
            }
            NODE_UNARY_OP => {
                let Some(inner) = e.expr() else {
                    return syntax_error();
                };
                let op = e
                    .tokens()
                    .map(|t| t.kind())
                    .find(|k| matches!(k, TOKEN_INVERT | TOKEN_SUB));
                let inner = Box::new(self.expr(inner)?);
                match op {
                    Some(TOKEN_INVERT) => Expr::Not(inner, pos),
                    Some(_) => Expr::Neg(inner, pos),
                    None => return syntax_error(),
                }
            }
            NODE_BIN_OP => {
                let [Some(l), Some(r)] = e.first_exprs() else {
                    return syntax_error();
                };
                let op = e.tokens().find_map(|t| {
                    Some(match t.kind() {
                        TOKEN_CONCAT => Ok(BinOp::Concat),
                        TOKEN_UPDATE => Ok(BinOp::Update),
                        TOKEN_ADD => Ok(BinOp::Add),
                        TOKEN_SUB => Ok(BinOp::Sub),
                        TOKEN_MUL => Ok(BinOp::Mul),
                        TOKEN_DIV => Ok(BinOp::Div),
                        TOKEN_AND_AND => Ok(BinOp::And),
                        TOKEN_OR_OR => Ok(BinOp::Or),
                        TOKEN_IMPLICATION => Ok(BinOp::Impl),
                        TOKEN_EQUAL => Ok(BinOp::Eq),
                        TOKEN_NOT_EQUAL => Ok(BinOp::Neq),
                        TOKEN_LESS => Ok(BinOp::Lt),
                        TOKEN_LESS_OR_EQ => Ok(BinOp::Le),
                        TOKEN_MORE => Ok(BinOp::Gt),
                        TOKEN_MORE_OR_EQ => Ok(BinOp::Ge),
                        TOKEN_PIPE_LEFT | TOKEN_PIPE_RIGHT => Err(()),
                        _ => return None,
                    })
                });
                let op = match op {
                    Some(Ok(op)) => op,
                    Some(Err(())) => {
                        return self.error("syntax error, unexpected pipe operator", pos)
                    }
                    None => return syntax_error(),
                };
                Expr::BinOp {
                    op,
                    l: Box::new(self.expr(l)?),
                    r: Box::new(self.expr(r)?),
                    pos,
                    rpos: self.pos(r),
                }
            }
            NODE_LAMBDA => self.lambda(e, pos)?,
            NODE_LET_IN => {
                let Some(body) = e.expr() else {
                    return syntax_error();
                };
                let set = self.collect_entries(e, false)?;
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
            NODE_LEGACY_LET => {
                // `let { a = 1; body = a; }` is `rec { ... }.body`.
                let set = self.collect_entries(e, false)?;
                let a = self.pset(set, true)?;
                Expr::Select {
                    e: Box::new(a),
                    path: vec![Key::Static("body".into(), Default::default())],
                    default: None,
                    pos,
                }
            }
            NODE_ATTR_SET => {
                let rec = e.token(TOKEN_REC).is_some();
                let set = self.collect_entries(e, rec)?;
                self.pset(set, rec)?
            }
            NODE_WITH => {
                let [Some(ns), Some(body)] = e.first_exprs() else {
                    return syntax_error();
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
            NODE_CUR_POS => Expr::CurPos(pos),
            // `NODE_ERROR`, and what is no expression.
            _ => return syntax_error(),
        })
    }

    fn string(&mut self, s: Node, pos: Pos) -> EvalResult<Expr> {
        let Some(parts) = s.string_parts() else {
            return self.error("syntax error", pos);
        };
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            out.push(match part {
                StrPart::Lit(l) => Part::Lit(l),
                StrPart::Interpolation(i) => match i.expr() {
                    Some(e) => Part::Expr(self.expr(e)?, self.pos(i)),
                    None => return self.error("syntax error", pos),
                },
            });
        }
        Ok(match out.as_slice() {
            [] => Expr::Str(Obj::new(NixString::default())),
            [Part::Lit(_)] => match out.pop() {
                Some(Part::Lit(l)) => Expr::Str(Obj::new(NixString::plain(l))),
                _ => unreachable!("matched a single literal"),
            },
            _ => Expr::Interp(out),
        })
    }

    fn path(&mut self, p: Node, pos: Pos) -> EvalResult<Expr> {
        let mut parts = Vec::new();
        for (i, part) in p.elems().enumerate() {
            match part {
                rowan::NodeOrToken::Token(l) => {
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
                rowan::NodeOrToken::Node(ip) => match ip.expr() {
                    Some(e) => parts.push(Part::Expr(self.expr(e)?, self.pos(ip))),
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

    fn lambda(&mut self, l: Node, pos: Pos) -> EvalResult<Expr> {
        let param = l
            .nodes()
            .find(|n| matches!(n.kind(), NODE_IDENT_PARAM | NODE_PATTERN));
        let (Some(param), Some(body)) = (param, l.expr()) else {
            return self.error("syntax error", pos);
        };
        if param.kind() == NODE_IDENT_PARAM {
            let name = param
                .node(NODE_IDENT)
                .map(Node::ident_name)
                .unwrap_or_default();
            let name: Sym = intern(&name);
            self.scopes
                .push(Scope::Param(name.clone(), std::cell::Cell::new(false)));
            let body = self.expr(body);
            let used = match self.scopes.pop() {
                Some(Scope::Param(_, used)) => used.get(),
                // Scopes are pushed and popped in pairs.
                _ => true,
            };
            return Ok(Expr::Lambda(Box::new(Lambda {
                param: Param::Ident(name),
                param_used: used,
                body: body?,
                pos,
                name: None,
            })));
        }
        let mut names: Vec<Sym> = Vec::new();
        let mut entries = Vec::new();
        let mut positions = Vec::new();
        for e in param.nodes().filter(|n| n.kind() == NODE_PAT_ENTRY) {
            let name: Sym = intern(&e.node(NODE_IDENT).map(Node::ident_name).unwrap_or_default());
            if names.contains(&name) {
                return self.error(
                    format!("duplicate formal function argument '{name}'"),
                    self.pos(e),
                );
            }
            names.push(name);
            positions.push(self.pos(e));
            // The name is an expression node too: the default is the second.
            entries.push(e.exprs().nth(1));
        }
        let bind = param
            .node(NODE_PAT_BIND)
            .and_then(|b| b.node(NODE_IDENT))
            .map(Node::ident_name);
        if let Some(b) = &bind {
            if names.iter().any(|n| &**n == b.as_str()) {
                return self.error(format!("duplicate formal function argument '{b}'"), pos);
            }
            names.push(b.as_str().into());
        }
        let defaults_rec = {
            let set_of_names = bindings::name_set(&names);
            let mut defaults = entries.iter().flatten();
            defaults.any(|d| bindings::code_mentions(*d, &set_of_names))
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
                ellipsis: param.token(TOKEN_ELLIPSIS).is_some(),
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
