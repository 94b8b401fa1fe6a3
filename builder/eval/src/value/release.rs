//! Freeing deep structures without deep recursion.
//!
//! Dropping the last reference to a value drops what it holds, so freeing a
//! chain of 30 million nested sets (`foldl' (acc: _: { next = acc; })`)
//! recursed 30 million times and overflowed the evaluation thread's stack,
//! aborting the process; Nix frees such a chain (its collector does not
//! recurse). Every object that can hold a value (a set, a list, a frame, a
//! thunk, a partial application) gives its contents to [`release`], which
//! drops them in place while fewer than `DEEP` such drops are under way on
//! this thread, and otherwise puts them aside; the outermost drop then frees
//! what was put aside, one piece at a time.

use std::any::Any;
use std::cell::{Cell, RefCell};

/// Nested drops of value-holding objects before the rest is put aside. A
/// level of nesting takes a few hundred bytes of stack, so this stays within
/// a megabyte or two: a drop can come at the deepest point evaluation
/// allows, which leaves an eighth of the evaluation stack, or on a thread
/// with the 2 MiB default stack.
const DEEP: u32 = 2_000;

/// The flag in `STATE` that something was put aside.
const PUT_ASIDE: u32 = 1 << 31;

thread_local! {
    /// How many value-holding objects are being dropped on this thread, one
    /// inside another, and `PUT_ASIDE`: one cell, so the common drop reads
    /// and writes one thread-local word.
    static STATE: Cell<u32> = const { Cell::new(0) };
    /// Contents put aside because they came too deep.
    static LATER: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Drops `contents` (what a value-holding object held), or puts it aside
/// when it comes too deep; the outermost call frees what was put aside.
#[inline]
pub(super) fn release<T: 'static>(contents: T) {
    let state = STATE.get();
    if state & !PUT_ASIDE >= DEEP {
        put_aside(Box::new(contents));
        return;
    }
    STATE.set(state + 1);
    drop(contents);
    let state = STATE.get() - 1;
    STATE.set(state);
    if state == PUT_ASIDE {
        free_put_aside();
    }
}

#[cold]
#[inline(never)]
fn put_aside(contents: Box<dyn Any>) {
    // While the thread's locals are torn down (a value in one of them being
    // dropped), `LATER` may be gone: what came too deep is then leaked
    // rather than freed on a stack it could overflow.
    let mut contents = Some(contents);
    if LATER
        .try_with(|l| l.borrow_mut().extend(contents.take()))
        .is_err()
    {
        std::mem::forget(contents);
        return;
    }
    STATE.set(STATE.get() | PUT_ASIDE);
}

/// Frees what was put aside, at depth 1, so that drops within it put aside
/// again rather than start another loop inside this one.
#[cold]
#[inline(never)]
fn free_put_aside() {
    STATE.set(1);
    while let Some(next) = LATER.try_with(|l| l.borrow_mut().pop()).ok().flatten() {
        drop(next);
    }
    let _ = LATER.try_with(|l| *l.borrow_mut() = Vec::new());
    STATE.set(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of boxes whose drop goes through `release`, as sets do.
    struct Link(Option<Box<Link>>);

    impl Drop for Link {
        fn drop(&mut self) {
            release(self.0.take());
        }
    }

    #[test]
    fn a_chain_far_deeper_than_the_stack_allows_is_freed() {
        // 5 000 000 nested drops of a few hundred bytes each would need
        // a gigabyte of stack; this thread has 2 MiB.
        let t = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let mut chain = Link(None);
                for _ in 0..5_000_000 {
                    chain = Link(Some(Box::new(chain)));
                }
                drop(chain);
                (STATE.get(), LATER.with_borrow(|l| l.len()))
            })
            .expect("spawn");
        assert_eq!(t.join().expect("no stack overflow"), (0, 0));
    }

    thread_local! {
        static HELD: RefCell<Option<Link>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_chain_freed_as_the_thread_ends_does_not_panic() {
        // `HELD` is set up before `LATER` (which a deep drop sets up), so it
        // is torn down after it: its chain then comes too deep with no list
        // to put it aside in.
        let t = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                HELD.with_borrow(|_| ());
                let chain = |n| {
                    let mut c = Link(None);
                    for _ in 0..n {
                        c = Link(Some(Box::new(c)));
                    }
                    c
                };
                drop(chain(10_000));
                HELD.with_borrow_mut(|h| *h = Some(chain(100_000)));
            })
            .expect("spawn");
        t.join()
            .expect("no panic while the thread's locals are torn down");
    }
}
