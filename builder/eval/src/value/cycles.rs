//! Frees the reference cycles `Rc` never frees.
//!
//! In a lazy language without mutation, a value can only come to point back
//! at itself through a recursive scope: a `let`, a `rec` set or a pattern
//! lambda's defaults, whose thunks point at the frame that holds them. Every
//! such frame is registered here when it is made, and what it shared with
//! other objects when it dies becomes a candidate (`frame_died`): a cycle can
//! outlive the frame it went through. From time to time (after enough new
//! thunks and frames in a big enough process, see `made`) all objects
//! reachable from the live registered frames and the candidates are walked,
//! and each one's references from inside that graph are counted ("trial
//! deletion"). An object whose `Rc` count is higher is held from outside it
//! (the Rust stack, the evaluator's tables): it and all it reaches are live.
//! The rest is garbage kept alive only by cycles: its frames and thunks are
//! emptied, and it is given back in the order reached.
//!
//! A reference the walk does not see (inside a builtin's native closure)
//! only makes its target look held from outside, so the walk can keep
//! garbage but never frees a live value. Thunks and frames are read through
//! their cells directly: a walk starts only when a thunk or frame is made,
//! and nothing holds a reference into a cell then (see `Thunk`, `Env`).
//! Nothing is freed while the walk holds raw pointers; the garbage is held
//! by counted references while it is emptied, and dropped afterwards.
//!
//! This is an interim measure: the tracing heap planned in
//! docs/architecture.md removes the counts and this walk with them.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::{Env, Obj, ThunkState, Value};

mod candidates;
mod walk;

pub use walk::collect;

/// New thunks and frames (but a call's one-slot frame) between walks, at least.
const FLOOR: u64 = 1_000_000;

/// No walk while the process's resident memory is below this (Nix 2.8
/// likewise starts Boehm's collector with a heap of 384 MiB, at most a
/// quarter of the machine's memory). A walk of a heap that is nearly all live
/// only costs: ten minimal systems in one evaluation (bench `minimal10`, 97 MB)
/// took 0.62 s and 133 MB walking after a million thunks, 0.37 s and 97 MB
/// without. Measured on `reclaim.nix` (a million garbage thunks a round),
/// walking after every 1 000 000 thunks peaked at 261 and 263 MB for 4 and 16
/// rounds, 4 000 000 at 514 and 720 MB (a bigger walk misses the cache more),
/// never walking at 1 013 MB for 16. Once objects shrank by a word (`Obj`),
/// 256 MiB held 5 000 000 of them and the first walk's own tables (about 37
/// bytes an object) took 16 rounds to 727 MB; from 128 MiB, 307 and 319 MB
/// for 4 and 16 rounds (`minimal10` is 79 MB).
const RSS_FLOOR: u64 = 128 << 20;

thread_local! {
    /// Frames of recursive scopes; dead entries are dropped now and then
    /// (`register`) and at every walk.
    static FRAMES: RefCell<Vec<Weak<Env>>> = const { RefCell::new(Vec::new()) };
    /// `FRAMES`' length after its last prune.
    static PRUNED_LEN: Cell<usize> = const { Cell::new(0) };
    /// Objects still to be made before the next walk.
    static BUDGET: Cell<u64> = const { Cell::new(FLOOR) };
    static FLOOR_NOW: Cell<u64> = const { Cell::new(FLOOR) };
    /// `RSS_FLOOR`, or 0 when walks were asked for by number alone.
    static RSS_FLOOR_NOW: Cell<u64> = const { Cell::new(RSS_FLOOR) };
    /// How many times what the last walk found live may be made before the
    /// next.
    static FACTOR: Cell<u64> = const { Cell::new(2) };
    static MAX_FACTOR: Cell<u64> = const { Cell::new(8) };
    static STATS: Cell<Stats> = const { Cell::new(Stats::ZERO) };
    /// Values a dead recursive frame held that something else held too
    /// (`frame_died`).
    static CANDIDATES: RefCell<candidates::Candidates> =
        const { RefCell::new(candidates::Candidates::new()) };
    /// `CANDIDATES`' length after its last prune.
    static CANDIDATES_PRUNED: Cell<usize> = const { Cell::new(0) };
}

/// What the walks of this thread have done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Walks made.
    pub walks: u64,
    /// Objects found garbage, over all walks.
    pub freed: u64,
    /// The most objects one walk went through.
    pub peak_walked: u64,
    /// Objects found live by the last walk.
    pub last_live: u64,
    /// Objects the last walk went through.
    pub last_walked: u64,
}

impl Stats {
    const ZERO: Stats = Stats {
        walks: 0,
        freed: 0,
        peak_walked: 0,
        last_live: 0,
        last_walked: 0,
    };
}

/// This thread's figures.
pub fn stats() -> Stats {
    STATS.get()
}

/// Sets the least number of new objects between walks on this thread (tests
/// use a small one), whatever the process's size, and starts counting afresh.
pub fn set_floor(n: u64) {
    FLOOR_NOW.set(n.max(1));
    BUDGET.set(n.max(1));
    MAX_FACTOR.set(8);
    RSS_FLOOR_NOW.set(0);
}

/// Walks after every `n` new objects on this thread, however much is live
/// (tests that check a walk changes no result).
pub fn walk_every(n: u64) {
    set_floor(n);
    MAX_FACTOR.set(0);
}

/// A number from the environment, read once per process.
fn from_env(name: &'static str, cell: &'static std::sync::OnceLock<Option<u64>>) -> Option<u64> {
    *cell.get_or_init(|| std::env::var(name).ok().and_then(|v| v.trim().parse().ok()))
}

/// Called when an evaluator is made: a thread that has not walked yet takes
/// its setting from the environment. `B8G_EVAL_WALK_FLOOR` is the least
/// number of new thunks and frames between walks, whatever the process's
/// size (trading memory for time, as Boehm's `GC_INITIAL_HEAP_SIZE` does);
/// `B8G_EVAL_WALK_EVERY` walks after every so many, however much is live
/// (slow: for finding a walk that frees too much).
pub fn start_thread() {
    static FLOOR_ENV: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    static EVERY_ENV: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    if STATS.get().walks > 0 {
        return;
    }
    match from_env("B8G_EVAL_WALK_EVERY", &EVERY_ENV) {
        Some(n) => walk_every(n),
        None => match from_env("B8G_EVAL_WALK_FLOOR", &FLOOR_ENV) {
            Some(n) => set_floor(n),
            None => {
                set_floor(FLOOR);
                RSS_FLOOR_NOW.set(RSS_FLOOR);
            }
        },
    }
}

/// Registers the frame of a recursive scope, which may come to be part of a
/// cycle.
#[inline]
pub fn register(env: &Rc<Env>) {
    FRAMES.with(|f| {
        let mut f = f.borrow_mut();
        f.push(Rc::downgrade(env));
        let len = f.len();
        // A dead frame's block stays allocated while its entry does.
        if len >= 1024 && len >= 2 * PRUNED_LEN.get() {
            f.retain(|w| w.strong_count() > 0);
            PRUNED_LEN.set(f.len());
        }
    });
    made();
}

/// Counts one new object, and walks when enough have been made since the
/// last walk.
#[inline(always)]
pub fn made() {
    let left = BUDGET.get();
    if left > 1 {
        BUDGET.set(left - 1);
    } else {
        walk_if_big();
    }
}

/// Walks, unless the process is still small (`RSS_FLOOR`): then counts
/// afresh.
#[cold]
#[inline(never)]
fn walk_if_big() {
    let floor = RSS_FLOOR_NOW.get();
    if floor > 0 && resident_bytes().is_some_and(|r| r < floor) {
        BUDGET.set(FLOOR_NOW.get());
    } else {
        collect();
    }
}

/// This process's resident memory (`VmRSS` in /proc/self/status).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// A recursive frame died (`Env`'s drop) with these values. What they
/// share with other objects may be in a cycle that went through the frame
/// and now closes without it (`let x = f x; in x` once `x` is forced; a list
/// whose elements point back at it once its thunk is gone): such a value
/// stays a candidate, walked from, until a walk finds it garbage. Values
/// only the frame held are freed now; what they share is looked for a few
/// objects deep (`CANDIDATE_DEPTH`), as their freeing may leave it in a cycle.
#[inline(never)]
pub(super) fn frame_died(vals: Vec<Value>) {
    let mut budget = CANDIDATE_DEPTH;
    let mut inner = Vec::new();
    for v in vals {
        look_into(v, &mut budget, &mut inner);
    }
    while let Some(v) = inner.pop() {
        look_into(v, &mut budget, &mut inner);
    }
    // Candidates nothing else holds any longer are dropped from time to time,
    // so the list stays about as long as what is still shared.
    let stale = CANDIDATES
        .try_with(|c| {
            let mut c = c.borrow_mut();
            if c.len() < 4096 || c.len() < 2 * CANDIDATES_PRUNED.get() {
                return Vec::new();
            }
            let stale = c.retain(shared);
            CANDIDATES_PRUNED.set(c.len());
            stale
        })
        .unwrap_or_default();
    // Dropped outside the borrow: a frame freed here calls this function.
    drop(stale);
}

/// One value a dying frame held (or one inside such a value, copied): a
/// candidate if something else holds it too, otherwise dropped, after
/// copying out what it holds to be looked at in turn (while `budget` lasts).
fn look_into(v: Value, budget: &mut usize, inner: &mut Vec<Value>) {
    if shared(&v) {
        // During the thread's teardown the list is gone: the value just drops.
        // A candidate already: the copy is dropped outside the borrow.
        let again = CANDIDATES.try_with(|c| c.borrow_mut().add(v));
        drop(again);
        return;
    }
    if *budget > 0 && count(&v) > 0 {
        *budget -= 1;
        inner_values(&v, inner);
    }
}

/// How many objects only a dying frame held `frame_died` looks into.
const CANDIDATE_DEPTH: usize = 16;

/// The values `v` holds directly (a few, for a big set or list), cloned.
fn inner_values(v: &Value, out: &mut Vec<Value>) {
    const SOME: usize = 8;
    match v {
        Value::Thunk(t) => {
            t.peek(|state| match state {
                ThunkState::Done(x) => out.push(x.clone()),
                ThunkState::Apply(app) => out.extend([app.0.clone(), app.1.clone()]),
                ThunkState::Select(_, set) => out.push(Value::Attrs(set.clone())),
                _ => {}
            });
        }
        Value::Attrs(a) => {
            let (own, base) = a.layers();
            out.extend(own.iter().take(SOME).map(|at| at.value.clone()));
            out.extend(base.map(|b| Value::Attrs(b.clone())));
        }
        Value::List(l) => out.extend(l.iter().take(SOME).cloned()),
        Value::PrimOpApp(p) => out.extend(p.args.iter().cloned()),
        _ => {}
    }
}

/// The `Rc` count of the object `v` is (0 for values that cannot be in a
/// cycle).
fn count(v: &Value) -> usize {
    match v {
        Value::Attrs(a) => Obj::strong_count(a),
        Value::List(l) => Obj::strong_count(l),
        Value::Lambda(f) => Obj::strong_count(f),
        Value::PrimOpApp(p) => Obj::strong_count(p),
        Value::Thunk(t) => Obj::strong_count(t),
        _ => 0,
    }
}

/// Whether `v` is an object that something besides `v` holds.
fn shared(v: &Value) -> bool {
    count(v) > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Pos;

    /// A frame whose slot holds a closure over the frame itself: the
    /// smallest cycle a `let` makes.
    fn knot() -> (Rc<Env>, Weak<Env>) {
        let env = Env::new(Vec::new(), None);
        register(&env);
        let thunk = Value::thunk(ThunkState::Done(Value::Int(1)));
        let list = Value::list(vec![thunk, Value::Int(2)]);
        let inner = Env::one(list, Some(env.clone()));
        let t = Value::thunk(ThunkState::Pending(leak_expr(), inner));
        env.set_all(vec![t]);
        let weak = Rc::downgrade(&env);
        (env, weak)
    }

    fn leak_expr() -> &'static crate::compile::Expr {
        Box::leak(Box::new(crate::compile::Expr::Int(0)))
    }

    #[test]
    fn a_cycle_nobody_holds_is_freed() {
        let (env, weak) = knot();
        drop(env);
        assert!(weak.upgrade().is_some(), "the cycle keeps the frame");
        let freed = collect();
        assert!(weak.upgrade().is_none(), "the walk frees it");
        assert!(freed >= 4, "frame, thunk, inner frame, list: {freed}");
    }

    #[test]
    fn a_cycle_held_from_outside_is_kept_whole() {
        let (env, weak) = knot();
        // Held only through a value deep inside the cycle.
        let held = env.get(0);
        drop(env);
        collect();
        let env = weak.upgrade().expect("still reachable from `held`");
        let Value::Thunk(t) = env.get(0) else {
            panic!("slot emptied")
        };
        let inner = t.peek(|s| match s {
            ThunkState::Pending(_, inner) => inner.clone(),
            _ => panic!("thunk emptied"),
        });
        let Value::List(l) = inner.get(0) else {
            panic!("inner frame emptied")
        };
        assert_eq!(l.len(), 2);
        drop(held);
    }

    #[test]
    fn an_unseen_reference_keeps_its_target() {
        let (env, weak) = knot();
        // A native closure holds the frame; the walk cannot see inside it.
        let captured = env.clone();
        let native = Value::native(move |_| Ok(captured.get(0)));
        let _hold = Value::thunk(ThunkState::Apply(Box::new((
            native,
            Value::Null,
            Pos::NONE,
        ))));
        drop(env);
        collect();
        assert!(weak.upgrade().is_some());
    }
}
