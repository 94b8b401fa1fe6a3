//! The candidates of the next walk (`frame_died`): values a dying recursive
//! frame shared with other objects, each held once. A value many frames
//! share (a library function every call's `let` reaches) is added once,
//! not once for every frame that dies holding it: before, a loop of
//! 300 000 such `let`s kept 600 000 entries for two objects.

use hashbrown::HashTable;

use super::super::{Obj, Value};

pub(super) struct Candidates {
    list: Vec<Value>,
    /// The addresses of the objects in `list`.
    addrs: HashTable<usize>,
}

impl Candidates {
    pub(super) const fn new() -> Candidates {
        Candidates {
            list: Vec::new(),
            addrs: HashTable::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Adds `v`; gives it back if it is one already (for the caller to drop
    /// outside its borrow of the list).
    pub(super) fn add(&mut self, v: Value) -> Option<Value> {
        let Some(addr) = object_addr(&v) else {
            return Some(v);
        };
        match self.addrs.entry(hash(addr), |a| *a == addr, |a| hash(*a)) {
            hashbrown::hash_table::Entry::Occupied(_) => Some(v),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(addr);
                self.list.push(v);
                None
            }
        }
    }

    /// Takes every candidate out.
    pub(super) fn take(&mut self) -> Vec<Value> {
        self.addrs.clear();
        std::mem::take(&mut self.list)
    }

    /// Keeps the candidates `keep` says to and returns the others.
    pub(super) fn retain(&mut self, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        let (kept, dropped): (Vec<Value>, Vec<Value>) = self.take().into_iter().partition(keep);
        for v in kept {
            // Distinct already: nothing is given back.
            let _ = self.add(v);
        }
        dropped
    }
}

/// The address of the object `v` points at, for the values that can be in a
/// cycle (those `count` counts).
fn object_addr(v: &Value) -> Option<usize> {
    let p = match v {
        Value::Attrs(a) => Obj::as_ptr(a).cast::<()>(),
        Value::List(l) => Obj::as_ptr(l).cast(),
        Value::Lambda(f) => Obj::as_ptr(f).cast(),
        Value::PrimOpApp(p) => Obj::as_ptr(p).cast(),
        Value::Thunk(t) => Obj::as_ptr(t).cast(),
        _ => return None,
    };
    Some(p as usize)
}

/// Objects are 16-byte aligned at least: the bits above, mixed.
fn hash(addr: usize) -> u64 {
    ((addr >> 4) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn a_value_is_a_candidate_once() {
        let mut c = Candidates::new();
        let set = Value::attrs(crate::value::Attrs::default());
        assert!(c.add(set.clone()).is_none());
        assert!(c.add(set.clone()).is_some(), "the same object again");
        let other = Value::attrs(crate::value::Attrs::default());
        assert!(c.add(other.clone()).is_none());
        assert!(c.add(Value::Int(1)).is_some(), "not an object");
        assert_eq!(c.len(), 2);
        // A prune gives back what it drops and keeps the rest once each.
        let set_addr = object_addr(&set);
        let dropped = c.retain(|v| object_addr(v) == set_addr);
        assert_eq!(dropped.len(), 1);
        assert_eq!(object_addr(&dropped[0]), object_addr(&other));
        assert!(c.add(set.clone()).is_some(), "still a candidate");
        // After a walk takes the list, the object may come again.
        assert_eq!(c.take().len(), 1);
        assert!(c.add(set).is_none());
    }
}
