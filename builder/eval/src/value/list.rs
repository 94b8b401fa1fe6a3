//! Lists: a vector of values, or a slice of another list's vector sharing it
//! (`tail` of a long list copies nothing).

use std::ops::Deref;

use super::{Obj, Value};

/// Lists shorter than this are copied by `slice`: a copy of a few values
/// costs less than the indirection every later read of a slice pays, and
/// does not keep a big list alive for a small part of it.
const SHARE_FROM: usize = 32;

pub enum List {
    Own(Vec<Value>),
    /// `of[start..end]`; `of` is always `Own`.
    Slice {
        of: Obj<List>,
        start: usize,
        end: usize,
    },
}

impl Drop for List {
    fn drop(&mut self) {
        // A slice's list is always `Own`: no depth to guard against there.
        if let List::Own(v) = self {
            if !v.is_empty() {
                super::release::release(std::mem::take(v));
            }
        }
    }
}

thread_local! {
    /// The empty list: most lists an evaluation makes are empty (`filter`
    /// and `concatMap` finding nothing, `optionals false`: 197 000 of
    /// 271 000 in the `modules` benchmark), and sharing one saves an
    /// allocation and a free for each. Nix keeps small lists in the value.
    static EMPTY: Obj<List> = Obj::new(List::Own(Vec::new()));
}

impl List {
    /// A list of `values`; every empty list is the same one.
    #[inline]
    pub fn new(values: Vec<Value>) -> Obj<List> {
        if values.is_empty() {
            // While the thread's locals are torn down, `EMPTY` may be gone.
            if let Ok(l) = EMPTY.try_with(Obj::clone) {
                return l;
            }
        }
        Obj::new(List::Own(values))
    }

    /// `this[start..]`, sharing `this`'s values when that is long.
    pub fn slice_from(this: &Obj<List>, start: usize) -> Obj<List> {
        let len = this.len().saturating_sub(start);
        if len < SHARE_FROM {
            return List::new(this[start.min(this.len())..].to_vec());
        }
        match &**this {
            List::Own(_) => Obj::new(List::Slice {
                of: this.clone(),
                start,
                end: this.len(),
            }),
            List::Slice { of, start: s, end } => Obj::new(List::Slice {
                of: of.clone(),
                start: s + start,
                end: *end,
            }),
        }
    }
}

impl Deref for List {
    type Target = [Value];

    #[inline]
    fn deref(&self) -> &[Value] {
        match self {
            List::Own(v) => v,
            List::Slice { of, start, end } => match &**of {
                List::Own(v) => &v[*start..*end],
                List::Slice { .. } => unreachable!("a slice is always of a list's own values"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(l: &List) -> Vec<i64> {
        l.iter()
            .map(|v| match v {
                Value::Int(n) => *n,
                _ => unreachable!("only integers here"),
            })
            .collect()
    }

    #[test]
    fn tails_of_tails_share_the_first_vector_and_read_as_copies() {
        let l = Obj::new(List::Own((0..100).map(Value::Int).collect()));
        let mut t = l.clone();
        for k in 1..=100 {
            t = List::slice_from(&t, 1);
            assert_eq!(ints(&t), (k..100).collect::<Vec<_>>());
            let shared = matches!(&*t, List::Slice { of, .. } if Obj::ptr_eq(of, &l));
            assert_eq!(shared, 100 - k >= SHARE_FROM as i64, "after {k} tails");
        }
        assert!(t.is_empty());
    }

    #[test]
    fn empty_lists_are_one_list_and_others_are_not() {
        let (a, b) = (List::new(Vec::new()), List::new(Vec::new()));
        assert!(Obj::ptr_eq(&a, &b));
        let short = Obj::new(List::Own(vec![Value::Int(1)]));
        assert!(Obj::ptr_eq(&List::slice_from(&short, 1), &a));
        let (c, d) = (
            List::new(vec![Value::Int(1)]),
            List::new(vec![Value::Int(1)]),
        );
        assert!(!Obj::ptr_eq(&c, &d));
    }
}
