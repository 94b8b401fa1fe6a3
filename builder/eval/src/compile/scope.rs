//! Scopes while compiling: the names each binds, and resolving a variable to
//! its frame and slot, or to the `with` scopes to search.

use super::{Compiler, Expr};
use crate::error::{EvalResult, Pos};
use crate::value::Sym;

pub(super) enum Scope {
    Lexical(Names),
    /// The parameter of `x: body`, noting whether the body refers to it.
    Param(Sym, std::cell::Cell<bool>),
    With,
}

/// The names a scope binds, in slot order, and where each is when there
/// are many (a `rec` set of 100 000 names was searched name by name for
/// each of its variables).
pub(super) struct Names {
    list: Vec<Sym>,
    index: Option<hashbrown::HashMap<Sym, usize>>,
}

impl Names {
    /// Past this many names, a table is kept.
    const FEW: usize = 16;

    pub(super) fn new(list: Vec<Sym>) -> Names {
        let index = (list.len() > Self::FEW).then(|| {
            let mut m = hashbrown::HashMap::with_capacity(list.len());
            for (i, n) in list.iter().enumerate() {
                // The first of a repeated name wins, as a search would find it.
                m.entry(n.clone()).or_insert(i);
            }
            m
        });
        Names { list, index }
    }

    fn position(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(m) => m.get(name).copied(),
            None => self.list.iter().position(|s| &**s == name),
        }
    }
}

impl Compiler {
    /// Adds an extra lexical scope (for scopedImport) whose env the caller provides.
    pub fn push_scope(&mut self, names: Vec<Sym>) {
        self.scopes.push(Scope::Lexical(Names::new(names)));
    }

    /// Runs `f` with the names in scope, if given, and takes them out of
    /// scope again whatever `f` returns.
    pub(super) fn in_scope<T>(
        &mut self,
        names: Option<Vec<Sym>>,
        f: impl FnOnce(&mut Self) -> EvalResult<T>,
    ) -> EvalResult<T> {
        let Some(names) = names else {
            return f(self);
        };
        self.scopes.push(Scope::Lexical(Names::new(names)));
        let r = f(self);
        self.scopes.pop();
        r
    }

    pub(super) fn resolve(&self, name: &str, skip: usize, pos: Pos) -> EvalResult<Expr> {
        let mut withs = Vec::new();
        let n = self.scopes.len();
        for (depth, scope) in self.scopes.iter().rev().enumerate() {
            if depth < skip {
                continue;
            }
            match scope {
                Scope::Lexical(names) => {
                    if let Some(i) = names.position(name) {
                        // The global scope never shadows `with` (it is the base env), but
                        // Nix resolves lexically first anyway, so this order is right.
                        if depth == n - 1 && !withs.is_empty() {
                            withs.shrink_to_fit();
                            return Ok(Expr::WithVar {
                                name: name.into(),
                                withs,
                                pos,
                            })
                            .map(|w| fallback_global(w, depth, i, pos));
                        }
                        return Ok(Expr::Var(depth, i, pos));
                    }
                }
                Scope::Param(p, used) => {
                    if &**p == name {
                        used.set(true);
                        return Ok(Expr::Var(depth, 0, pos));
                    }
                }
                Scope::With => withs.push(depth),
            }
        }
        if withs.is_empty() {
            return self.error(format!("undefined variable '{name}'"), pos);
        }
        // Compiled code lives as long as the evaluation: no spare room.
        withs.shrink_to_fit();
        Ok(Expr::WithVar {
            name: name.into(),
            withs,
            pos,
        })
    }
}

/// A global name under `with`: the `with` scopes are consulted first only if
/// the name is not a global; Nix resolves globals lexically, so keep the global.
fn fallback_global(_w: Expr, depth: usize, i: usize, pos: Pos) -> Expr {
    Expr::Var(depth, i, pos)
}
