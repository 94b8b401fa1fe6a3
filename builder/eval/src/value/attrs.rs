//! Attribute sets, and `//` without copying a big set for a few names.
//!
//! A set is either flat (one sorted vector) or a small sorted layer over a
//! flat base: `big // { a = 1; }` shares `big` and holds only `a`. A layer
//! is at most an eighth of its base, and a layer over a layered set is merged
//! into one layer over the same base, so a lookup reads at most two vectors
//! and a chain of small updates (overlays) copies the base once per eighth of
//! its size rather than at every step.

use std::cmp::Ordering;

use super::{name_cmp, Attr, Obj, Sym, Value};

/// Sets up to this size are searched linearly by name address (`get_sym`):
/// at 32 bytes an attribute, that is a few cache lines, where a binary search
/// reads a name block at every probe.
const SMALL_SET: usize = 16;

/// A layer is kept while it is at most `1 / LAYER_RATIO` of its base; past
/// that, copying the base costs no more than the layers it saves.
const LAYER_RATIO: usize = 8;

/// Where a name written in the source was last found in a flat set (an index
/// into its attributes), for [`Attrs::get_sym_hinted`] to try first. Any
/// index is safe: it is checked against the name before it is used.
pub struct PlaceHint(std::cell::Cell<u32>);

impl Default for PlaceHint {
    fn default() -> PlaceHint {
        PlaceHint(std::cell::Cell::new(u32::MAX))
    }
}

/// An attribute set. Invariant: `own` is sorted by name without duplicates;
/// `base`, when there is one, is flat, and `own` shadows its names.
#[derive(Clone, Default)]
pub struct Attrs {
    own: Vec<Attr>,
    base: Option<Obj<Attrs>>,
    /// Distinct names in `own` and `base` together.
    len: usize,
}

impl Drop for Attrs {
    fn drop(&mut self) {
        if !self.own.is_empty() || self.base.is_some() {
            super::release::release((std::mem::take(&mut self.own), self.base.take()));
        }
    }
}

impl Attrs {
    /// From attributes already sorted by name, without duplicates.
    pub fn from_sorted(attrs: Vec<Attr>) -> Attrs {
        Attrs {
            len: attrs.len(),
            own: attrs,
            base: None,
        }
    }

    /// From unsorted attributes; of duplicate names the first is kept.
    pub fn from_unsorted(mut attrs: Vec<Attr>) -> Attrs {
        attrs.sort_by(|a, b| name_cmp(&a.name, &b.name));
        attrs.dedup_by(|later, earlier| later.name == earlier.name);
        Attrs::from_sorted(attrs)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.get_attr(name).map(|a| &a.value)
    }

    pub fn get_attr(&self, name: &str) -> Option<&Attr> {
        find(&self.own, name).or_else(|| self.base.as_deref().and_then(|b| find(&b.own, name)))
    }

    /// `get` for an interned name: small vectors are scanned for the name's
    /// address, touching only the attributes and never the name bytes.
    /// Address equality is name equality here: a `Sym` cannot leave the
    /// thread whose table interned it (it is neither `Send` nor `Sync`), and
    /// that table holds one block per name.
    #[inline]
    pub fn get_sym(&self, name: &Sym) -> Option<&Value> {
        find_sym(&self.own, name)
            .or_else(|| self.base.as_deref().and_then(|b| find_sym(&b.own, name)))
            .map(|a| &a.value)
    }

    /// `get_sym` trying `hint`'s place first: a selection written in the
    /// source (`lib.mkOption`, `config.services`) mostly meets the same set,
    /// or sets built alike, so the name is mostly where it was found last
    /// time, and one comparison of name addresses replaces a search that
    /// compares name bytes at every probe (a fifth of the time of a loop
    /// calling `builtins.isAttrs`). Only flat sets are hinted: in a layered
    /// one the layer must be searched first anyway, for a name it shadows.
    #[inline]
    pub fn get_sym_hinted(&self, name: &Sym, hint: &PlaceHint) -> Option<&Value> {
        if self.base.is_some() {
            return self.get_sym(name);
        }
        if let Some(a) = self.own.get(hint.0.get() as usize) {
            if a.name.0 == name.0 {
                return Some(&a.value);
            }
        }
        let i = find_sym_index(&self.own, name)?;
        hint.0.set(u32::try_from(i).unwrap_or(u32::MAX));
        Some(&self.own[i].value)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The attributes in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            own: &self.own,
            base: self.base.as_deref().map_or(&[][..], |b| &b.own[..]),
            i: 0,
            j: 0,
        }
    }

    /// The attribute at `place`, as `Iter::next_placed` gives it.
    pub fn at_place(&self, place: usize) -> Option<&Attr> {
        match &self.base {
            None => self.own.get(place),
            Some(b) => match place.checked_sub(b.own.len()) {
                None => b.own.get(place),
                Some(i) => self.own.get(i),
            },
        }
    }

    /// This set's own attributes and the base they lie over.
    /// The attributes in name order, when the set is flat (no layer).
    #[inline]
    pub fn flat(&self) -> Option<&[Attr]> {
        match self.base {
            None => Some(&self.own),
            Some(_) => None,
        }
    }

    pub(super) fn layers(&self) -> (&[Attr], Option<&Obj<Attrs>>) {
        (&self.own, self.base.as_ref())
    }

    /// The base and layer `x` splits into: a flat set is its own base.
    fn parts(x: &Obj<Attrs>) -> (&Obj<Attrs>, &[Attr]) {
        match &x.base {
            Some(b) => (b, &x.own),
            None => (x, &[]),
        }
    }
}

/// `a // b`. Reuses `a` or `b` when the other adds nothing (as Nix does for
/// an empty one), lays a small `b` over a big `a`, and copies otherwise.
pub fn update(x: Obj<Attrs>, y: Obj<Attrs>) -> Obj<Attrs> {
    if y.is_empty() {
        return x;
    }
    if x.is_empty() {
        return y;
    }
    // Every name of `x` in `y` (`prev // mapAttrs f prev`, an override of
    // all names): the result has `y`'s names and values, so it is `y`'s. This
    // spares copying the attributes, which touches the count of every value,
    // and freeing the copy later; `==` cannot tell (Nix compares the
    // attributes' values by address first, as `same_value` does).
    if x.len() <= y.len() && names_within(&x, &y) {
        // Still a set of its own, as Nix's `//` makes one: printing tells
        // sets apart by identity («repeated»). An empty layer copies nothing.
        return Obj::new(match &y.base {
            None => Attrs {
                own: Vec::new(),
                len: y.len,
                base: Some(y),
            },
            Some(b) => Attrs {
                own: y.own.clone(),
                len: y.len,
                base: Some(b.clone()),
            },
        });
    }
    let (base, layer) = Attrs::parts(&x);
    if (layer.len() + y.len()) * LAYER_RATIO <= base.len() {
        let own = merge(layer.iter(), y.iter(), layer.len() + y.len());
        let new = own
            .iter()
            .filter(|a| find_sym(&base.own, &a.name).is_none())
            .count();
        return Obj::new(Attrs {
            len: base.len() + new,
            own,
            base: Some(base.clone()),
        });
    }
    let cap = update_len(&x, &y);
    let out = match (&x.base, &y.base) {
        (None, None) => merge_flat(&x.own, &y.own, cap),
        _ => merge(x.iter(), y.iter(), cap),
    };
    Obj::new(Attrs::from_sorted(out))
}

/// `merge` of two flat sets: the common case (`p // { version = 1; }`), by
/// index, which compiles to much less than the general merge.
fn merge_flat(x: &[Attr], y: &[Attr], cap: usize) -> Vec<Attr> {
    let mut out = Vec::with_capacity(cap);
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match name_cmp(&x[i].name, &y[j].name) {
            Ordering::Less => {
                out.push(x[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(y[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                out.push(y[j].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&x[i..]);
    out.extend_from_slice(&y[j..]);
    out
}

/// The sorted union of two sorted runs, `y`'s attribute winning a shared name.
fn merge<'a>(
    x: impl Iterator<Item = &'a Attr>,
    y: impl Iterator<Item = &'a Attr>,
    cap: usize,
) -> Vec<Attr> {
    let mut out = Vec::with_capacity(cap);
    let (mut x, mut y) = (x.peekable(), y.peekable());
    loop {
        let ord = match (x.peek(), y.peek()) {
            (Some(a), Some(b)) => name_cmp(&a.name, &b.name),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return out,
        };
        match ord {
            Ordering::Less => out.extend(x.next().cloned()),
            Ordering::Greater => out.extend(y.next().cloned()),
            Ordering::Equal => {
                x.next();
                out.extend(y.next().cloned());
            }
        }
    }
}

/// Whether every name of `x` is a name of `y`. Sets with the same names, the
/// common case, are told apart by address alone.
fn names_within(x: &Attrs, y: &Attrs) -> bool {
    if x.base.is_none() && y.base.is_none() {
        return names_within_flat(&x.own, &y.own);
    }
    let mut ys = y.iter();
    'next: for a in x.iter() {
        for b in ys.by_ref() {
            // `Sym`'s order compares addresses first, reading no name bytes
            // for equal names.
            match b.name.cmp(&a.name) {
                Ordering::Less => continue,
                Ordering::Equal => continue 'next,
                Ordering::Greater => return false,
            }
        }
        return false;
    }
    true
}

fn names_within_flat(x: &[Attr], y: &[Attr]) -> bool {
    let mut j = 0;
    for a in x {
        loop {
            let Some(b) = y.get(j) else {
                return false;
            };
            j += 1;
            match b.name.cmp(&a.name) {
                Ordering::Less => continue,
                Ordering::Equal => break,
                Ordering::Greater => return false,
            }
        }
    }
    true
}

/// The room to allocate for `x // y`. Small updates (`p // { version = 1; }`,
/// overriding names `p` has) are counted exactly: they are many, each lives
/// as long as the value, and `x.len() + y.len()` would waste a quarter or
/// more of every one. A big result gets the upper bound: counting would
/// compare every name twice, and the unused tail of a big block is never
/// touched, so it costs no memory.
fn update_len(x: &Attrs, y: &Attrs) -> usize {
    let bound = x.len() + y.len();
    if bound > 64 {
        return bound;
    }
    bound - y.iter().filter(|a| x.get_sym(&a.name).is_some()).count()
}

fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs
        .binary_search_by(|a| name_cmp(&a.name, name))
        .ok()
        .map(|i| &attrs[i])
}

#[inline]
fn find_sym<'a>(attrs: &'a [Attr], name: &Sym) -> Option<&'a Attr> {
    find_sym_index(attrs, name).map(|i| &attrs[i])
}

/// Where `name` is in `attrs`: small vectors are scanned for the name's
/// address, bigger ones searched by its text.
#[inline]
fn find_sym_index(attrs: &[Attr], name: &Sym) -> Option<usize> {
    if attrs.len() <= SMALL_SET {
        return attrs.iter().position(|a| a.name.0 == name.0);
    }
    attrs
        .binary_search_by(|a| name_cmp(&a.name, name.as_str()))
        .ok()
}

/// A set's attributes in name order: its layer merged into its base.
#[derive(Clone)]
pub struct Iter<'a> {
    own: &'a [Attr],
    base: &'a [Attr],
    i: usize,
    j: usize,
}

impl<'a> Iter<'a> {
    /// The next attribute with its place in the set (`Attrs::at_place`):
    /// its index in the base, or the base's length plus its index in the
    /// layer. Unlike its rank in name order, the place is found without
    /// walking the set.
    #[inline]
    pub fn next_placed(&mut self) -> Option<(usize, &'a Attr)> {
        let (i, j) = (self.i, self.j);
        let Some(b) = self.base.get(j) else {
            let a = self.own.get(i)?;
            self.i += 1;
            return Some((self.base.len() + i, a));
        };
        let Some(a) = self.own.get(i) else {
            self.j += 1;
            return Some((j, b));
        };
        match name_cmp(&a.name, &b.name) {
            Ordering::Greater => {
                self.j += 1;
                Some((j, b))
            }
            ord => {
                if ord == Ordering::Equal {
                    self.j += 1;
                }
                self.i += 1;
                Some((self.base.len() + i, a))
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Attr;

    #[inline]
    fn next(&mut self) -> Option<&'a Attr> {
        self.next_placed().map(|(_, a)| a)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (own, base) = (self.own.len() - self.i, self.base.len() - self.j);
        (own.max(base), Some(own + base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Pos;
    use crate::value::intern;

    fn set(pairs: &[(&str, i64)]) -> Obj<Attrs> {
        Obj::new(Attrs::from_unsorted(
            pairs
                .iter()
                .map(|(n, v)| Attr {
                    name: intern(n),
                    value: Value::Int(*v),
                    pos: Pos::NONE,
                })
                .collect(),
        ))
    }

    fn pairs(a: &Attrs) -> Vec<(String, i64)> {
        a.iter()
            .map(|at| match at.value {
                Value::Int(n) => (at.name.to_string(), n),
                _ => unreachable!("only integers here"),
            })
            .collect()
    }

    fn big(n: usize) -> Vec<(String, i64)> {
        (0..n).map(|i| (format!("a{i:04}"), i as i64)).collect()
    }

    fn as_refs(v: &[(String, i64)]) -> Vec<(&str, i64)> {
        v.iter().map(|(n, v)| (n.as_str(), *v)).collect()
    }

    /// What `//` must give, computed the plain way.
    fn expected(x: &[(String, i64)], y: &[(&str, i64)]) -> Vec<(String, i64)> {
        let mut m: std::collections::BTreeMap<String, i64> = x.iter().cloned().collect();
        for (n, v) in y {
            m.insert(n.to_string(), *v);
        }
        m.into_iter().collect()
    }

    #[test]
    fn a_small_update_of_a_big_set_is_a_layer_and_reads_as_a_copy() {
        let base = big(100);
        let x = set(&as_refs(&base));
        let y = set(&[("a0050", -1), ("b", 7), ("0", 3)]);
        let z = update(x.clone(), y);
        assert!(z.base.is_some(), "a layer over the big set, not a copy");
        let want = expected(&base, &[("a0050", -1), ("b", 7), ("0", 3)]);
        assert_eq!(pairs(&z), want);
        assert_eq!(z.len(), want.len());
        assert!(matches!(z.get("a0050"), Some(Value::Int(-1))));
        assert!(matches!(z.get_sym(&intern("a0051")), Some(Value::Int(51))));
        assert!(matches!(z.get_sym(&intern("b")), Some(Value::Int(7))));
        assert!(z.get("c").is_none());
        let mut it = z.iter();
        let mut n = 0;
        while let Some((place, at)) = it.next_placed() {
            assert!(std::ptr::eq(z.at_place(place).unwrap(), at));
            n += 1;
        }
        assert_eq!(n, want.len());
        // The big set is untouched.
        assert_eq!(pairs(&x), base);
    }

    #[test]
    fn a_hint_from_another_set_or_a_shadowed_name_never_misleads() {
        let hint = PlaceHint::default();
        let (small, other) = (set(&[("a", 1), ("b", 2)]), set(&[("b", 20), ("c", 30)]));
        let big_base = big(40);
        let large = set(&as_refs(&big_base));
        let b = intern("b");
        for _ in 0..2 {
            assert!(matches!(
                small.get_sym_hinted(&b, &hint),
                Some(Value::Int(2))
            ));
            // The hint now says index 1, where `other` has `c`.
            assert!(matches!(
                other.get_sym_hinted(&b, &hint),
                Some(Value::Int(20))
            ));
            assert!(large.get_sym_hinted(&b, &hint).is_none());
        }
        let a7 = intern("a0007");
        assert!(matches!(
            large.get_sym_hinted(&a7, &hint),
            Some(Value::Int(7))
        ));
        assert_eq!(hint.0.get(), 7);
        // A layer shadowing the name the hint points at in its base.
        let layered = update(large.clone(), set(&[("a0007", -7)]));
        assert!(layered.base.is_some());
        assert!(matches!(
            layered.get_sym_hinted(&a7, &hint),
            Some(Value::Int(-7))
        ));
        assert!(matches!(
            large.get_sym_hinted(&a7, &hint),
            Some(Value::Int(7))
        ));
    }

    #[test]
    fn chains_of_updates_keep_one_layer_then_copy() {
        let base = big(80);
        let mut want = base.clone();
        let mut z = set(&as_refs(&base));
        for k in 0..30 {
            let name = format!("n{k}");
            let upd = [(name.as_str(), k), ("a0001", 100 + k)];
            want = expected(&want, &upd);
            z = update(z, set(&upd));
            assert!(z.base.as_ref().is_none_or(|b| b.base.is_none()));
            assert!(z.own.len() * LAYER_RATIO <= z.base.as_ref().map_or(usize::MAX, |b| b.len()));
            assert_eq!(pairs(&z), want, "after update {k}");
            assert_eq!(z.len(), want.len());
        }
        // Updating a layered set with a big one, and a small set with a layered one.
        let other = set(&as_refs(&big(90)));
        assert_eq!(
            pairs(&update(z.clone(), other.clone())),
            expected(&want, &as_refs(&big(90)))
        );
        let small = set(&[("zz", 1)]);
        assert_eq!(
            pairs(&update(small, z.clone())),
            expected(&[("zz".into(), 1)], &as_refs(&want))
        );
    }

    #[test]
    fn an_update_of_every_name_is_the_right_sets_values_in_a_new_set() {
        let x = set(&[("a", 1), ("b", 2)]);
        let y = set(&[("a", 3), ("b", 4), ("c", 5)]);
        let z = update(x, y.clone());
        assert!(!Obj::ptr_eq(&z, &y));
        assert_eq!(pairs(&z), pairs(&y));
        assert!(z.own.is_empty() && z.base.as_ref().is_some_and(|b| Obj::ptr_eq(b, &y)));
    }
}
