//! Attribute bindings (`{ … }`, `rec { … }`, `let`): gathering entries,
//! merging nested attribute paths and set literals as Nix 2.8's parser does,
//! and compiling the merged set.

use rnix::SyntaxKind::*;

use super::syntax::Node;
use super::{name_lambda, AttrsExpr, Compiler, Expr, Key, Scope};
use crate::error::{EvalResult, Pos};
use crate::value::{intern, Sym};

/// Pending attribute value while merging nested attribute paths.
pub(super) enum PVal<'a> {
    Ast(Node<'a>),
    /// `inherit x;` resolved from the scope outside a rec/let.
    Inherit(Sym, Pos),
    InheritFrom(Node<'a>, Sym, Pos),
    Nested(PSet<'a>),
}

impl PVal<'_> {
    /// Whether this value's code holds an identifier spelled as one of
    /// `names`: more than whether it refers to them (a shadowed name or an
    /// attribute's name counts too), never less.
    pub(super) fn mentions(&self, names: &NameSet) -> bool {
        let in_code = |e: &Node| code_mentions(*e, names);
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
pub(super) fn code_mentions(e: Node, names: &NameSet) -> bool {
    e.any_descendant(NODE_IDENT, |id| {
        id.token(TOKEN_IDENT)
            .is_some_and(|t| names.contains(t.text()))
    })
}

/// Names looked for by `code_mentions`.
pub(super) type NameSet<'a> = hashbrown::HashSet<&'a str>;

/// The names as a `NameSet`.
pub(super) fn name_set(names: &[Sym]) -> NameSet<'_> {
    names.iter().map(|n| n.as_str()).collect()
}

#[derive(Default)]
pub(super) struct PSet<'a> {
    /// Added only by `push_static`, which keeps `index`.
    pub(super) statics: Vec<(Sym, PVal<'a>, Pos)>,
    /// Where each name is in `statics`: a set of 100 000 attributes took
    /// 14 s to compile searching `statics` for each new name.
    index: hashbrown::HashMap<Sym, usize>,
    pub(super) dynamics: Vec<(Node<'a>, PVal<'a>, Pos)>,
    /// A `rec { }` literal: what is merged into it is evaluated in its scope,
    /// as Nix's parser merges into the first definition (nix issue 9020).
    pub(super) rec: bool,
}

impl<'a> PSet<'a> {
    /// Where `name` is in `statics`.
    fn find(&self, name: &Sym) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Adds a name not in the set yet; returns its place.
    fn push_static(&mut self, name: Sym, v: PVal<'a>, pos: Pos) -> usize {
        let j = self.statics.len();
        self.index.insert(name.clone(), j);
        self.statics.push((name, v, pos));
        j
    }
}

pub(super) enum PKey<'a> {
    Static(Sym),
    Dynamic(Node<'a>),
}

/// An attribute path as Nix 2.8 shows it in messages: names joined by dots,
/// an interpolated name as `"${…}"` around its code.
fn attr_path_text(keys: &[PKey]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| match k {
            PKey::Static(n) => crate::print::attr_name(n).into_owned(),
            PKey::Dynamic(e) => format!("\"${{{}}}\"", e.text().trim()),
        })
        .collect();
    parts.join(".")
}

impl Compiler {
    /// An attribute name (`NODE_IDENT`, `NODE_STRING` or `NODE_DYNAMIC`), or `None`
    /// for a node that is none.
    fn attr_key<'a>(&mut self, a: Node<'a>) -> EvalResult<Option<PKey<'a>>> {
        Ok(Some(match a.kind() {
            NODE_IDENT => PKey::Static(intern(&a.ident_name())),
            NODE_STRING => match a.static_string() {
                Some(t) => PKey::Static(intern(&t)),
                None => PKey::Dynamic(a),
            },
            NODE_DYNAMIC => match a.expr() {
                Some(e) => match (e.kind() == NODE_STRING)
                    .then(|| e.static_string())
                    .flatten()
                {
                    Some(t) => PKey::Static(intern(&t)),
                    None => PKey::Dynamic(e),
                },
                None => return self.error("syntax error", self.pos(a)),
            },
            _ => return Ok(None),
        }))
    }

    /// The names of an attribute path (`NODE_ATTRPATH`), or of an `inherit`.
    fn attr_keys<'a>(&mut self, ap: Node<'a>) -> EvalResult<Vec<(PKey<'a>, Pos)>> {
        let mut keys = Vec::new();
        for a in ap.nodes() {
            if let Some(k) = self.attr_key(a)? {
                keys.push((k, self.pos(a)));
            }
        }
        Ok(keys)
    }

    pub(super) fn attrpath(&mut self, ap: Node) -> EvalResult<Vec<Key>> {
        let mut out = Vec::new();
        for (key, _) in self.attr_keys(ap)? {
            out.push(match key {
                PKey::Static(s) => Key::Static(s, Default::default()),
                PKey::Dynamic(e) => Key::Dynamic(self.expr(e)?),
            });
        }
        // Compiled code lives as long as the evaluation: no spare room.
        out.shrink_to_fit();
        Ok(out)
    }

    /// Gathers the bindings of `node` (a set, `let` or old-style `let`), merging
    /// nested paths into sub-sets.
    pub(super) fn collect_entries<'a>(
        &mut self,
        node: Node<'a>,
        rec: bool,
    ) -> EvalResult<PSet<'a>> {
        let mut set = PSet {
            rec,
            ..PSet::default()
        };
        for entry in node.nodes() {
            match entry.kind() {
                NODE_INHERIT => {
                    let from_node = entry.node(NODE_INHERIT_FROM);
                    let (attr_pos, var_pos) = self.inherit_positions(node, entry, from_node);
                    let from = from_node.and_then(Node::expr);
                    for (key, apos) in self.attr_keys(entry)? {
                        let name = match key {
                            PKey::Static(s) => s,
                            PKey::Dynamic(_) => {
                                return self
                                    .error("dynamic attributes not allowed in inherit", apos)
                            }
                        };
                        let v = match from {
                            Some(f) => PVal::InheritFrom(f, name.clone(), var_pos),
                            None => PVal::Inherit(name.clone(), var_pos),
                        };
                        self.insert(&mut set, vec![PKey::Static(name)], v, attr_pos)?;
                    }
                }
                NODE_ATTRPATH_VALUE => {
                    let (Some(ap), Some(val)) = (entry.node(NODE_ATTRPATH), entry.expr()) else {
                        return self.error("syntax error", self.pos(entry));
                    };
                    let keys = self.attr_keys(ap)?.into_iter().map(|(k, _)| k).collect();
                    self.insert(&mut set, keys, PVal::Ast(val), self.pos(ap))?;
                }
                _ => {}
            }
        }
        Ok(set)
    }

    /// Where Nix 2.8's parser puts an `inherit` in `bindings`: each attribute at the
    /// end of `inherit` or of its `(from)` (what `unsafeGetAttrPos` gives), and the
    /// variable or selection it stands for at the start of the bindings, just
    /// after the `{` or `let` (where a missing name is reported).
    fn inherit_positions(&self, bindings: Node, inh: Node, from: Option<Node>) -> (Pos, Pos) {
        let attr_end = match (from, inh.token(TOKEN_INHERIT)) {
            (Some(f), _) => f.end(),
            (None, Some(t)) => t.end(),
            (None, None) => inh.offset,
        };
        let binds_start = bindings
            .tokens()
            // `let { … }` (old style) counts from its brace, as a set does.
            .filter(|t| matches!(t.kind(), TOKEN_L_BRACE | TOKEN_LET))
            .max_by_key(|t| t.kind() == TOKEN_L_BRACE)
            .map_or(inh.offset, |t| t.end());
        (self.at(attr_end), self.at(binds_start))
    }

    /// Adds `keys = v` to `set` as Nix 2.8's parser (`addAttr`) does: the path
    /// walks into set literals and sets made by earlier paths; a set literal
    /// given for a name that already holds one is merged one level deep.
    /// Conflicts are reported with Nix's wording and positions.
    fn insert<'a>(
        &mut self,
        set: &mut PSet<'a>,
        keys: Vec<PKey<'a>>,
        v: PVal<'a>,
        pos: Pos,
    ) -> EvalResult<()> {
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
                    cur.dynamics.push((*e, PVal::Nested(PSet::default()), pos));
                    match cur.dynamics.last_mut().map(|d| &mut d.1) {
                        Some(PVal::Nested(sub)) => sub,
                        _ => unreachable!("pushed a nested set just above"),
                    }
                }
            };
        }
        let name = match &keys[last] {
            PKey::Dynamic(e) => {
                cur.dynamics.push((*e, v, pos));
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
    pub(super) fn as_set<'a>(&mut self, v: PVal<'a>) -> EvalResult<Result<PSet<'a>, PVal<'a>>> {
        Ok(match v {
            PVal::Nested(s) => Ok(s),
            PVal::Ast(a) if a.kind() == NODE_ATTR_SET => {
                let rec = a.token(TOKEN_REC).is_some();
                Ok(self.collect_entries(a, rec)?)
            }
            // Nix's parser drops parentheses: `a = ({ … });` is a set literal too.
            PVal::Ast(p) if p.kind() == NODE_PAREN => match p.expr() {
                Some(inner) => return self.as_set(PVal::Ast(inner)),
                None => Err(PVal::Ast(p)),
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
