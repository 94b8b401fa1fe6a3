//! Attribute bindings (`{ … }`, `rec { … }`, `let`): gathering entries,
//! merging nested attribute paths and set literals as Nix 2.8's parser does,
//! and compiling the merged set.

use rnix::ast::{self, HasEntry};
use rowan::ast::AstNode;

use super::{name_lambda, static_str, AttrsExpr, Compiler, Expr, Key, Scope};
use crate::error::{EvalResult, Pos};
use crate::value::{intern, Sym};

/// Pending attribute value while merging nested attribute paths.
pub(super) enum PVal {
    Ast(ast::Expr),
    /// `inherit x;` resolved from the scope outside a rec/let.
    Inherit(Sym, Pos),
    InheritFrom(ast::Expr, Sym, Pos),
    Nested(PSet),
}

impl PVal {
    /// Whether this value's code holds an identifier spelled as one of
    /// `names`: more than whether it refers to them (a shadowed name or an
    /// attribute's name counts too), never less.
    pub(super) fn mentions(&self, names: &NameSet) -> bool {
        let in_code = |e: &ast::Expr| code_mentions(e, names);
        match self {
            PVal::Ast(e) | PVal::InheritFrom(e, _, _) => in_code(e),
            // Taken from the scope outside.
            PVal::Inherit(..) => false,
            PVal::Nested(set) => {
                set.statics.iter().any(|(_, v, _)| v.mentions(names))
                    || set
                        .dynamics
                        .iter()
                        .any(|(k, v, _)| in_code(k) || v.mentions(names))
            }
        }
    }
}

/// Whether the code holds an identifier spelled as one of `names` (see
/// `PVal::mentions`).
pub(super) fn code_mentions(e: &ast::Expr, names: &NameSet) -> bool {
    e.syntax()
        .descendants()
        .filter_map(ast::Ident::cast)
        .filter_map(|id| id.ident_token())
        .any(|t| names.contains(t.text()))
}

/// Names looked for by `code_mentions`.
pub(super) type NameSet<'a> = hashbrown::HashSet<&'a str>;

/// The names as a `NameSet`.
pub(super) fn name_set(names: &[Sym]) -> NameSet<'_> {
    names.iter().map(|n| n.as_str()).collect()
}

#[derive(Default)]
pub(super) struct PSet {
    /// Added only by `push_static`, which keeps `index`.
    pub(super) statics: Vec<(Sym, PVal, Pos)>,
    /// Where each name is in `statics`: a set of 100 000 attributes took
    /// 14 s to compile searching `statics` for each new name.
    index: hashbrown::HashMap<Sym, usize>,
    pub(super) dynamics: Vec<(ast::Expr, PVal, Pos)>,
    /// A `rec { }` literal: what is merged into it is evaluated in its scope,
    /// as Nix's parser merges into the first definition (nix issue 9020).
    pub(super) rec: bool,
}

impl PSet {
    /// Where `name` is in `statics`.
    fn find(&self, name: &Sym) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Adds a name not in the set yet; returns its place.
    fn push_static(&mut self, name: Sym, v: PVal, pos: Pos) -> usize {
        let j = self.statics.len();
        self.index.insert(name.clone(), j);
        self.statics.push((name, v, pos));
        j
    }
}

pub(super) enum PKey {
    Static(Sym),
    Dynamic(ast::Expr),
}

/// An attribute path as Nix 2.8 shows it in messages: names joined by dots,
/// an interpolated name as `"${…}"` around its code.
fn attr_path_text(keys: &[PKey]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| match k {
            PKey::Static(n) => crate::print::attr_name(n).into_owned(),
            PKey::Dynamic(e) => format!("\"${{{}}}\"", e.syntax().text().to_string().trim()),
        })
        .collect();
    parts.join(".")
}

impl Compiler {
    pub(super) fn attr_key(&mut self, a: ast::Attr) -> EvalResult<PKey> {
        Ok(match a {
            ast::Attr::Ident(i) => PKey::Static(intern(&Self::ident_name(&i))),
            ast::Attr::Str(s) => match static_str(&s) {
                Some(t) => PKey::Static(intern(&t)),
                None => PKey::Dynamic(ast::Expr::Str(s)),
            },
            ast::Attr::Dynamic(d) => match d.expr() {
                Some(ast::Expr::Str(s)) if static_str(&s).is_some() => {
                    PKey::Static(intern(&static_str(&s).unwrap_or_default()))
                }
                Some(e) => PKey::Dynamic(e),
                None => return self.error("syntax error", self.pos(&d)),
            },
        })
    }

    pub(super) fn attrpath(&mut self, ap: &ast::Attrpath) -> EvalResult<Vec<Key>> {
        let mut out = Vec::new();
        for a in ap.attrs() {
            out.push(match self.attr_key(a)? {
                PKey::Static(s) => Key::Static(s, Default::default()),
                PKey::Dynamic(e) => Key::Dynamic(self.expr(e)?),
            });
        }
        // Compiled code lives as long as the evaluation: no spare room.
        out.shrink_to_fit();
        Ok(out)
    }

    /// Gathers bindings, merging nested paths into sub-sets.
    pub(super) fn collect_entries(
        &mut self,
        entries: impl Iterator<Item = ast::Entry>,
        rec: bool,
    ) -> EvalResult<PSet> {
        let mut set = PSet {
            rec,
            ..PSet::default()
        };
        for entry in entries {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from_node = inh.from();
                    let (attr_pos, var_pos) = self.inherit_positions(&inh, from_node.as_ref());
                    let from = from_node.and_then(|f| f.expr());
                    for a in inh.attrs() {
                        let apos = self.pos(&a);
                        let name = match self.attr_key(a)? {
                            PKey::Static(s) => s,
                            PKey::Dynamic(_) => {
                                return self
                                    .error("dynamic attributes not allowed in inherit", apos)
                            }
                        };
                        let v = match &from {
                            Some(f) => PVal::InheritFrom(f.clone(), name.clone(), var_pos),
                            None => PVal::Inherit(name.clone(), var_pos),
                        };
                        self.insert(&mut set, vec![PKey::Static(name)], v, attr_pos)?;
                    }
                }
                ast::Entry::AttrpathValue(av) => {
                    let (Some(ap), Some(val)) = (av.attrpath(), av.value()) else {
                        return self.error("syntax error", self.pos(&av));
                    };
                    let apos = self.pos(&ap);
                    let mut keys = Vec::new();
                    for a in ap.attrs() {
                        keys.push(self.attr_key(a)?);
                    }
                    self.insert(&mut set, keys, PVal::Ast(val), apos)?;
                }
            }
        }
        Ok(set)
    }

    /// Where Nix 2.8's parser puts an `inherit`: each attribute at the end of
    /// `inherit` or of its `(from)` (what `unsafeGetAttrPos` gives), and the
    /// variable or selection it stands for at the start of the bindings, just
    /// after the `{` or `let` (where a missing name is reported).
    fn inherit_positions(&self, inh: &ast::Inherit, from: Option<&ast::InheritFrom>) -> (Pos, Pos) {
        let at = |offset: rowan::TextSize| Pos {
            file: self.file,
            offset: u32::from(offset),
        };
        let attr_end = match (from, inh.inherit_token()) {
            (Some(f), _) => f.syntax().text_range().end(),
            (None, Some(t)) => t.text_range().end(),
            (None, None) => inh.syntax().text_range().start(),
        };
        let binds_start = inh
            .syntax()
            .parent()
            .and_then(|p| {
                p.children_with_tokens()
                    .filter_map(|c| c.into_token())
                    // `let { … }` (old style) counts from its brace, as a set does.
                    .filter(|t| {
                        matches!(
                            t.kind(),
                            rnix::SyntaxKind::TOKEN_L_BRACE | rnix::SyntaxKind::TOKEN_LET
                        )
                    })
                    .max_by_key(|t| t.kind() == rnix::SyntaxKind::TOKEN_L_BRACE)
                    .map(|t| t.text_range().end())
            })
            .unwrap_or_else(|| inh.syntax().text_range().start());
        (at(attr_end), at(binds_start))
    }

    /// Adds `keys = v` to `set` as Nix 2.8's parser (`addAttr`) does: the path
    /// walks into set literals and sets made by earlier paths; a set literal
    /// given for a name that already holds one is merged one level deep.
    /// Conflicts are reported with Nix's wording and positions.
    fn insert(&mut self, set: &mut PSet, keys: Vec<PKey>, v: PVal, pos: Pos) -> EvalResult<()> {
        let last = keys.len() - 1;
        let mut cur = set;
        for key in &keys[..last] {
            cur = match key {
                PKey::Static(name) => match cur.find(name) {
                    Some(j) => {
                        let existing =
                            std::mem::replace(&mut cur.statics[j].1, PVal::Nested(PSet::default()));
                        match self.as_set(existing)? {
                            Ok(sub) => cur.statics[j].1 = PVal::Nested(sub),
                            Err(other) => {
                                cur.statics[j].1 = other;
                                return self.dup_attr(
                                    &attr_path_text(&keys),
                                    pos,
                                    cur.statics[j].2,
                                );
                            }
                        }
                        match &mut cur.statics[j].1 {
                            PVal::Nested(sub) => sub,
                            _ => unreachable!("made a nested set just above"),
                        }
                    }
                    None => {
                        let j = cur.push_static(name.clone(), PVal::Nested(PSet::default()), pos);
                        match cur.statics.get_mut(j).map(|s| &mut s.1) {
                            Some(PVal::Nested(sub)) => sub,
                            _ => unreachable!("pushed a nested set just above"),
                        }
                    }
                },
                PKey::Dynamic(e) => {
                    cur.dynamics
                        .push((e.clone(), PVal::Nested(PSet::default()), pos));
                    match cur.dynamics.last_mut().map(|d| &mut d.1) {
                        Some(PVal::Nested(sub)) => sub,
                        _ => unreachable!("pushed a nested set just above"),
                    }
                }
            };
        }
        let name = match &keys[last] {
            PKey::Dynamic(e) => {
                cur.dynamics.push((e.clone(), v, pos));
                return Ok(());
            }
            PKey::Static(name) => name,
        };
        let Some(j) = cur.find(name) else {
            cur.push_static(name.clone(), v, pos);
            return Ok(());
        };
        let existing = std::mem::replace(&mut cur.statics[j].1, PVal::Nested(PSet::default()));
        match (self.as_set(existing)?, self.as_set(v)?) {
            (Ok(mut a), Ok(b)) => {
                for (n, bv, bp) in b.statics {
                    if let Some(old) = a.find(&n) {
                        // Nix 2.8 reports this one the other way round: at the
                        // first definition, naming the second.
                        let old_pos = a.statics[old].2;
                        return self.dup_attr(&crate::print::attr_name(&n), old_pos, bp);
                    }
                    a.push_static(n, bv, bp);
                }
                a.dynamics.extend(b.dynamics);
                cur.statics[j].1 = PVal::Nested(a);
                Ok(())
            }
            _ => self.dup_attr(&attr_path_text(&keys), pos, cur.statics[j].2),
        }
    }

    fn dup_attr<T>(&self, name: &str, pos: Pos, prev: Pos) -> EvalResult<T> {
        let prev = crate::error::pos_text(prev);
        self.error(format!("attribute '{name}' already defined at {prev}"), pos)
    }

    /// A pending value as a mergeable set, if it is a set literal (`rec` or
    /// not) or a nested path. The first definition's kind decides the merged
    /// set's: Nix's parser adds the later attributes to it.
    #[allow(clippy::type_complexity)]
    pub(super) fn as_set(&mut self, v: PVal) -> EvalResult<Result<PSet, PVal>> {
        Ok(match v {
            PVal::Nested(s) => Ok(s),
            PVal::Ast(ast::Expr::AttrSet(a)) => {
                let rec = a.rec_token().is_some();
                Ok(self.collect_entries(a.entries(), rec)?)
            }
            // Nix's parser drops parentheses: `a = ({ … });` is a set literal too.
            PVal::Ast(ast::Expr::Paren(p)) => match p.expr() {
                Some(inner) => return self.as_set(PVal::Ast(inner)),
                None => Err(PVal::Ast(ast::Expr::Paren(p))),
            },
            other => Err(other),
        })
    }

    pub(super) fn pval(&mut self, v: PVal, rec_depth: usize) -> EvalResult<Expr> {
        match v {
            PVal::Ast(e) => self.expr(e),
            PVal::Inherit(name, pos) => self.resolve(&name, rec_depth, pos),
            PVal::InheritFrom(e, name, pos) => Ok(Expr::Select {
                e: Box::new(self.expr(e)?),
                path: vec![Key::Static(name, Default::default())],
                default: None,
                pos,
            }),
            PVal::Nested(s) => {
                let rec = s.rec;
                self.pset(s, rec)
            }
        }
    }

    pub(super) fn pset(&mut self, set: PSet, rec: bool) -> EvalResult<Expr> {
        let mut statics = set.statics;
        statics.sort_by(|a, b| a.0.cmp(&b.0));
        if rec {
            let names: Vec<Sym> = statics.iter().map(|(n, _, _)| n.clone()).collect();
            self.scopes.push(Scope::Lexical(super::Names::new(names)));
        }
        let skip = usize::from(rec);
        let mut out_s = Vec::with_capacity(statics.len());
        let mut out_d = Vec::with_capacity(set.dynamics.len());
        let mut res = Ok(());
        for (n, v, p) in statics {
            match self.pval(v, skip) {
                Ok(mut e) => {
                    name_lambda(&mut e, &n);
                    out_s.push((n, e, p))
                }
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        if res.is_ok() {
            for (k, v, p) in set.dynamics {
                let k = match self.expr(k) {
                    Ok(k) => k,
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                };
                match self.pval(v, skip) {
                    Ok(e) => out_d.push((k, e, p)),
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                }
            }
        }
        if rec {
            self.scopes.pop();
        }
        res?;
        Ok(Expr::Attrs(Box::new(AttrsExpr {
            rec,
            statics: out_s,
            dynamics: out_d,
        })))
    }
}
