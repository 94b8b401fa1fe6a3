//! `Obj<T>`: what a value points at (a set, list, string, thunk, closure):
//! shared and freed with the last reference, as with `Rc`, but with one count
//! and no weak count, so every object is 8 bytes smaller (a thunk 32 bytes
//! rather than 40, a set 48 rather than 56). Nothing holds a weak reference to
//! a value's object; frames, which the cycle walk tracks by weak reference,
//! stay `Rc`.
//!
//! The count is the object's first word for every `T`, as `Rc`'s strong
//! count is, so `Value::clone` stays one test of the tag and one increment
//! whatever the variant.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

#[repr(C)]
struct Inner<T> {
    count: Cell<usize>,
    value: T,
}

/// A counted reference to a `T` on the heap (see the module). One pointer,
/// to the count (`repr(transparent)`), which `Value::clone` relies on.
#[repr(transparent)]
pub struct Obj<T> {
    ptr: NonNull<Inner<T>>,
    /// Owns an `Inner<T>` (for drop checking); also makes `Obj` neither
    /// `Send` nor `Sync`, through `NonNull`.
    _owns: PhantomData<Inner<T>>,
}

impl<T> Obj<T> {
    #[inline]
    pub fn new(value: T) -> Obj<T> {
        let inner = Box::new(Inner {
            count: Cell::new(1),
            value,
        });
        Obj {
            ptr: NonNull::from(Box::leak(inner)),
            _owns: PhantomData,
        }
    }

    #[inline]
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the object lives while this reference counts it.
        unsafe { self.ptr.as_ref() }
    }

    /// The object's address (of the `T`), which `from_raw` takes back.
    #[inline]
    pub fn as_ptr(this: &Obj<T>) -> *const T {
        // SAFETY: in bounds of a live allocation; no reference is made.
        unsafe { &raw const (*this.ptr.as_ptr()).value }
    }

    /// The references counted to the object.
    #[inline]
    pub fn strong_count(this: &Obj<T>) -> usize {
        this.inner().count.get()
    }

    #[inline]
    pub fn ptr_eq(a: &Obj<T>, b: &Obj<T>) -> bool {
        a.ptr == b.ptr
    }

    /// Takes over a count, given the address `as_ptr` gave.
    ///
    /// # Safety
    /// `p` came from `as_ptr` of an `Obj<T>` whose object is alive, and the
    /// caller owns one of its counts, which the returned `Obj` now owns.
    #[inline]
    pub unsafe fn from_raw(p: *const T) -> Obj<T> {
        let offset = std::mem::offset_of!(Inner<T>, value);
        // SAFETY: as for the function: `p` is `offset` bytes into an `Inner<T>`.
        let inner = unsafe { p.byte_sub(offset) } as *mut Inner<T>;
        Obj {
            // SAFETY: derived from a non-null object address.
            ptr: unsafe { NonNull::new_unchecked(inner) },
            _owns: PhantomData,
        }
    }

    /// Adds a count to the object at `p`, for a later `from_raw`.
    ///
    /// # Safety
    /// `p` came from `as_ptr` of an `Obj<T>` whose object is alive.
    #[inline]
    pub unsafe fn increment_strong_count(p: *const T) {
        // SAFETY: as for the function; the `Obj` made is forgotten, so the
        // count it would give back stays added.
        let obj = std::mem::ManuallyDrop::new(unsafe { Obj::from_raw(p) });
        std::mem::forget(Obj::clone(&obj));
    }

    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        // SAFETY: the last count is gone: nothing else can reach the object,
        // which `new` allocated as a `Box`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// Adds a count to the object an `Obj` of any `T` points at, given the
/// pointer itself (`Value::clone`, one path for every variant).
///
/// # Safety
/// `ptr` is the pointer of a live `Obj` (its bits), and the caller makes a
/// new owner of the count (a bitwise copy of that `Obj`).
#[inline(always)]
pub(super) unsafe fn bump(ptr: *const ()) {
    // SAFETY: as for the function: every `Inner` starts with its count.
    let count = unsafe { &*(ptr as *const Cell<usize>) };
    let n = count.get().wrapping_add(1);
    count.set(n);
    if n == 0 {
        std::process::abort();
    }
}

impl<T> Clone for Obj<T> {
    #[inline]
    fn clone(&self) -> Obj<T> {
        let count = &self.inner().count;
        let n = count.get().wrapping_add(1);
        count.set(n);
        // As `Rc`: more counts than addresses means the count wrapped.
        if n == 0 {
            std::process::abort();
        }
        Obj {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Obj<T> {
    #[inline]
    fn drop(&mut self) {
        let count = &self.inner().count;
        let n = count.get() - 1;
        count.set(n);
        if n == 0 {
            self.drop_slow();
        }
    }
}

impl<T> Deref for Obj<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> From<T> for Obj<T> {
    fn from(value: T) -> Obj<T> {
        Obj::new(value)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Obj<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: PartialOrd> PartialOrd for Obj<T> {
    fn partial_cmp(&self, other: &Obj<T>) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: PartialEq> PartialEq for Obj<T> {
    fn eq(&self, other: &Obj<T>) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for Obj<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn counts_and_frees_once() {
        let dropped = Rc::new(Cell::new(0));
        struct Probe(Rc<Cell<u32>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let a = Obj::new(Probe(dropped.clone()));
        let b = a.clone();
        assert_eq!(Obj::strong_count(&a), 2);
        assert!(Obj::ptr_eq(&a, &b));
        let p = Obj::as_ptr(&a);
        // SAFETY: `p` is `a`'s address; the count added is taken back below.
        let c = unsafe {
            Obj::increment_strong_count(p);
            Obj::from_raw(p)
        };
        assert_eq!(Obj::strong_count(&b), 3);
        drop((a, b));
        assert_eq!(dropped.get(), 0);
        drop(c);
        assert_eq!(dropped.get(), 1);
    }

    #[test]
    fn is_a_word_smaller_than_rc_and_counts_first() {
        // What `Value::clone` relies on: the count at offset 0 whatever `T`.
        assert_eq!(std::mem::offset_of!(Inner<u8>, count), 0);
        assert_eq!(std::mem::offset_of!(Inner<[u64; 3]>, count), 0);
        assert_eq!(std::mem::size_of::<Inner<[u64; 3]>>(), 32);
        let o = Obj::new(7u64);
        // SAFETY: reads the first word of a live object.
        let first = unsafe { *(o.ptr.as_ptr() as *const usize) };
        assert_eq!(first, 1);
    }
}
