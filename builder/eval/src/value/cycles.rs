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
//! A reference the walk does not see (inside a builtin's native closure, or
//! a `RefCell` borrowed at that moment) only makes its target look held
//! from outside, so the walk can keep garbage but never frees a live value.
//! Nothing is freed while the walk holds raw pointers; the garbage is held
//! by counted references while it is emptied, and dropped afterwards.
//!
//! This is an interim measure: the tracing heap planned in
//! docs/architecture.md removes the counts and this walk with them.

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::rc::{Rc, Weak};

use super::Attrs;
use super::{Bulk, Closure, Env, List, PartialApp, Slots, Thunk, ThunkState, Value};

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
/// never walking at 1 013 MB for 16.
const RSS_FLOOR: u64 = 256 << 20;

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
    static CANDIDATES: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
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

/// A counted object, by the address its `Rc` points at.
#[derive(Clone, Copy)]
enum Node {
    Env(*const Env),
    Thunk(*const Thunk),
    Attrs(*const Attrs),
    List(*const List),
    Closure(*const Closure),
    App(*const PartialApp),
    Bulk(*const Bulk),
}

impl Node {
    fn addr(self) -> usize {
        match self {
            Node::Env(p) => p as usize,
            Node::Thunk(p) => p as usize,
            Node::Attrs(p) => p as usize,
            Node::List(p) => p as usize,
            Node::Closure(p) => p as usize,
            Node::App(p) => p as usize,
            Node::Bulk(p) => p as usize,
        }
    }

    fn kind(self) -> u8 {
        match self {
            Node::Env(_) => 0,
            Node::Thunk(_) => 1,
            Node::Attrs(_) => 2,
            Node::List(_) => 3,
            Node::Closure(_) => 4,
            Node::App(_) => 5,
            Node::Bulk(_) => 6,
        }
    }

    /// The node `addr()` and `kind()` came from.
    fn from_parts(addr: usize, kind: u8) -> Node {
        match kind {
            0 => Node::Env(addr as *const Env),
            1 => Node::Thunk(addr as *const Thunk),
            2 => Node::Attrs(addr as *const Attrs),
            3 => Node::List(addr as *const List),
            4 => Node::Closure(addr as *const Closure),
            5 => Node::App(addr as *const PartialApp),
            _ => Node::Bulk(addr as *const Bulk),
        }
    }

    fn of_value(v: &Value) -> Option<Node> {
        Some(match v {
            Value::Attrs(a) => Node::Attrs(Rc::as_ptr(a)),
            Value::List(l) => Node::List(Rc::as_ptr(l)),
            Value::Lambda(c) => Node::Closure(Rc::as_ptr(c)),
            Value::PrimOpApp(p) => Node::App(Rc::as_ptr(p)),
            Value::Thunk(t) => Node::Thunk(Rc::as_ptr(t)),
            // Strings, paths and primops hold no values.
            Value::Null
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::Path(_)
            | Value::PrimOp(_) => return None,
        })
    }

    /// The `Rc` count of the object.
    ///
    /// # Safety
    /// The object must be alive: the walk only holds nodes reached through
    /// live references, and frees nothing until it is done with them.
    unsafe fn strong_count(self) -> usize {
        /// # Safety
        /// As for `strong_count`: `p` came from `Rc::as_ptr` of a live `Rc`.
        unsafe fn count<T>(p: *const T) -> usize {
            // SAFETY: as for the function; the `Rc` is never dropped.
            let rc = ManuallyDrop::new(unsafe { Rc::from_raw(p) });
            Rc::strong_count(&rc)
        }
        // SAFETY: as for the function.
        unsafe {
            match self {
                Node::Env(p) => count(p),
                Node::Thunk(p) => count(p),
                Node::Attrs(p) => count(p),
                Node::List(p) => count(p),
                Node::Closure(p) => count(p),
                Node::App(p) => count(p),
                Node::Bulk(p) => count(p),
            }
        }
    }

    /// Pushes the objects this one holds a counted reference to, once per
    /// reference. Contents behind a `RefCell` borrowed for writing are
    /// skipped (their targets then look held from outside: kept).
    ///
    /// # Safety
    /// As for `strong_count`.
    unsafe fn children(self, out: &mut Vec<Node>) {
        let values = |vs: &[Value], out: &mut Vec<Node>| {
            out.extend(vs.iter().filter_map(Node::of_value));
        };
        // SAFETY: as for the function: each pointer is to a live object.
        unsafe {
            match self {
                Node::Env(p) => {
                    let env = &*p;
                    if let Ok(slots) = env.vals.try_borrow() {
                        match &*slots {
                            Slots::One(v) => values(std::slice::from_ref(v), out),
                            Slots::Many(vs) | Slots::Rec(super::RecSlots(vs)) => values(vs, out),
                        }
                    }
                    if let Some(parent) = &env.parent {
                        out.push(Node::Env(Rc::as_ptr(parent)));
                    }
                }
                Node::Thunk(p) => {
                    if let Ok(state) = (*p).0.try_borrow() {
                        match &*state {
                            ThunkState::Pending(_, env) => out.push(Node::Env(Rc::as_ptr(env))),
                            ThunkState::Bulk(b, _) => out.push(Node::Bulk(Rc::as_ptr(b))),
                            ThunkState::Apply(app) => {
                                out.extend(Node::of_value(&app.0));
                                out.extend(Node::of_value(&app.1));
                            }
                            ThunkState::Done(v) => values(std::slice::from_ref(v), out),
                            // A builtin's closure: what it holds is not seen.
                            ThunkState::Native(_) | ThunkState::Blackhole => {}
                        }
                    }
                }
                Node::Attrs(p) => {
                    let (own, base) = (*p).layers();
                    out.extend(own.iter().filter_map(|a| Node::of_value(&a.value)));
                    if let Some(base) = base {
                        out.push(Node::Attrs(Rc::as_ptr(base)));
                    }
                }
                Node::List(p) => match &*p {
                    List::Own(vs) => values(vs, out),
                    // The elements belong to `of`, which holds them.
                    List::Slice { of, .. } => out.push(Node::List(Rc::as_ptr(of))),
                },
                Node::Closure(p) => out.push(Node::Env(Rc::as_ptr(&(*p).env))),
                Node::App(p) => values(&(*p).args, out),
                Node::Bulk(p) => match &*p {
                    Bulk::GenList { f, .. } => values(std::slice::from_ref(f), out),
                    Bulk::Map { f, list, .. } => {
                        values(std::slice::from_ref(f), out);
                        out.push(Node::List(Rc::as_ptr(list)));
                    }
                    Bulk::MapAttrs { f, attrs, .. } => {
                        values(std::slice::from_ref(f), out);
                        out.push(Node::Attrs(Rc::as_ptr(attrs)));
                    }
                    Bulk::ZipAttrs { f, args, .. } => {
                        values(std::slice::from_ref(f), out);
                        for (name, list) in args {
                            out.extend(Node::of_value(name));
                            out.extend(Node::of_value(list));
                        }
                    }
                },
            }
        }
    }
}

/// What the walk knows of one object, in 16 bytes.
struct Seen {
    /// Its address, with its kind in the top byte (user-space addresses
    /// leave it zero).
    addr_kind: u64,
    /// Its `Rc` count, read when the walk first reached it.
    strong: u32,
    /// References to it from objects the walk went through, with `LIVE` set
    /// once it is known to be live.
    inside: u32,
}

const LIVE: u32 = 1 << 31;

impl Seen {
    fn addr(&self) -> usize {
        (self.addr_kind & ((1 << 56) - 1)) as usize
    }

    fn node(&self) -> Node {
        Node::from_parts(self.addr(), (self.addr_kind >> 56) as u8)
    }

    fn live(&self) -> bool {
        self.inside & LIVE != 0
    }
}

/// The bucket of an address in `Graph::place`: its words in the low bits, so
/// objects made one after another (which the walk reaches one after another)
/// fall in neighbouring buckets and the table is read mostly in order; a mix
/// of the whole address in the top seven, which the table keeps as a tag to
/// filter probes with.
fn addr_hash(addr: usize) -> u64 {
    let a = addr as u64;
    (a >> 3) ^ (a.wrapping_mul(0x9e37_79b9_7f4a_7c15) & (0x7f << 57))
}

/// The objects reached, in the order reached (which follows the order they
/// were made in, so the passes over them read memory mostly in order), and
/// each one's place in that order, found by address.
struct Graph {
    seen: Vec<Seen>,
    place: hashbrown::HashTable<u32>,
}

impl Graph {
    fn with_capacity(n: usize) -> Graph {
        Graph {
            seen: Vec::with_capacity(n),
            place: hashbrown::HashTable::with_capacity(n),
        }
    }

    fn find(&self, addr: usize) -> Option<usize> {
        let seen = &self.seen;
        self.place
            .find(addr_hash(addr), |&i| seen[i as usize].addr() == addr)
            .map(|&i| i as usize)
    }

    /// Counts `inside` references to `node` from inside, and returns its
    /// place if it was not reached before.
    ///
    /// # Safety
    /// As for `Node::strong_count`.
    unsafe fn reach(&mut self, node: Node, inside: u32) -> Option<usize> {
        let addr = node.addr();
        let seen = &mut self.seen;
        match self.place.entry(
            addr_hash(addr),
            |&i| seen[i as usize].addr() == addr,
            |&i| addr_hash(seen[i as usize].addr()),
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let s = &mut seen[*o.get() as usize];
                s.inside = (s.inside + inside).min(LIVE - 1);
                None
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                let at = seen.len();
                v.insert(u32::try_from(at).unwrap_or(u32::MAX));
                seen.push(Seen {
                    addr_kind: addr as u64 | u64::from(node.kind()) << 56,
                    // SAFETY: as for the function.
                    strong: u32::try_from(unsafe { node.strong_count() }).unwrap_or(u32::MAX),
                    inside,
                });
                Some(at)
            }
        }
    }
}

/// Walks everything reachable from the registered frames now, frees what
/// only cycles hold, and returns how many objects that was.
#[cold]
#[inline(never)]
pub fn collect() -> u64 {
    let frames: Vec<Node> = FRAMES.with(|f| {
        let mut f = f.borrow_mut();
        f.retain(|w| w.strong_count() > 0);
        PRUNED_LEN.set(f.len());
        f.iter().map(|w| Node::Env(w.as_ptr())).collect()
    });
    // The candidates are held here while they are walked: their references
    // from the list count as inside ones.
    let candidates: Vec<Value> = CANDIDATES.with(|c| std::mem::take(&mut *c.borrow_mut()));
    // Sized for the last walk's graph, so it rarely grows.
    let mut g = Graph::with_capacity(STATS.get().last_walked as usize);
    let mut stack: Vec<usize> = Vec::new();
    let mut kids = Vec::new();
    // Count the references from inside the graph.
    // SAFETY (all blocks below, until `g` is dropped): every node was reached
    // from a live frame, a held candidate or an object reached from them, and
    // nothing has been freed since.
    let roots = frames
        .into_iter()
        .map(|f| (f, 0))
        .chain(candidates.iter().filter_map(Node::of_value).map(|n| (n, 1)));
    for (root, inside) in roots {
        stack.extend(unsafe { g.reach(root, inside) });
        while let Some(at) = stack.pop() {
            unsafe { g.seen[at].node().children(&mut kids) };
            for k in kids.drain(..) {
                stack.extend(unsafe { g.reach(k, 1) });
            }
        }
    }
    // Objects held from outside, and all they reach, are live.
    for (at, s) in g.seen.iter_mut().enumerate() {
        if s.strong > s.inside {
            s.inside |= LIVE;
            stack.push(at);
        }
    }
    while let Some(at) = stack.pop() {
        unsafe { g.seen[at].node().children(&mut kids) };
        for k in kids.drain(..) {
            if let Some(p) = g.find(k.addr()) {
                let s = &mut g.seen[p];
                if !s.live() {
                    s.inside |= LIVE;
                    stack.push(p);
                }
            }
        }
    }
    // Live candidates stay candidates: what holds them from outside may let
    // go of them later, leaving their cycles behind. (Nothing is dropped
    // before `g` is: the others go with the garbage.)
    let candidate_live: Vec<bool> = candidates
        .iter()
        .map(|v| {
            Node::of_value(v)
                .and_then(|n| g.find(n.addr()))
                .is_some_and(|p| g.seen[p].live())
        })
        .collect();
    // Hold every garbage object by a counted reference (given back when the
    // `Rc` made here is dropped), so that none is freed while the frames and
    // thunks among them are emptied.
    let mut held: Vec<Held> = Vec::new();
    let mut live = 0u64;
    for s in &g.seen {
        if s.live() {
            live += 1;
        } else {
            held.push(unsafe { Held::take(s.node()) });
        }
    }
    let walked = g.seen.len() as u64;
    drop(g);
    let mut dead_candidates = Vec::new();
    CANDIDATES.with(|c| {
        let mut c = c.borrow_mut();
        for (v, live) in candidates.into_iter().zip(candidate_live) {
            if live {
                c.push(v);
            } else {
                dead_candidates.push(v);
            }
        }
    });
    // Emptying the frames and thunks breaks every cycle (each goes through
    // one); a `RefCell` borrowed now is left as it is.
    for h in &held {
        match h {
            Held::Env(e) => {
                if let Ok(mut slots) = e.vals.try_borrow_mut() {
                    let old = std::mem::replace(&mut *slots, Slots::Many(Vec::new()));
                    // A garbage frame's values are garbage: not candidates.
                    if let Slots::Rec(mut rec) = old {
                        drop(std::mem::take(&mut rec.0));
                    }
                }
            }
            Held::Thunk(t) => {
                if let Ok(mut state) = t.0.try_borrow_mut() {
                    *state = ThunkState::Blackhole;
                }
            }
            _ => {}
        }
    }
    // Given back in the order reached, each object is freed by its own
    // drop, with what it points at still held (reached later) or already
    // freed: no deep chain of drops, however long the garbage is.
    drop(dead_candidates);
    drop(held);

    let dead = walked - live;
    let mut st = STATS.get();
    st.walks += 1;
    st.freed += dead;
    st.peak_walked = st.peak_walked.max(walked);
    st.last_walked = walked;
    st.last_live = live;
    STATS.set(st);
    // A walk that found little garbage is put off longer next time (up to
    // eight times what is live), so an evaluation that keeps what it makes
    // spends little time walking; one that found much walks again soon.
    let factor = if dead * 4 < walked {
        FACTOR.get() * 2
    } else {
        2
    }
    .min(MAX_FACTOR.get());
    FACTOR.set(factor);
    BUDGET.set(FLOOR_NOW.get().max(factor * live));
    dead
}

/// A counted reference to an object the walk found garbage.
enum Held {
    Env(Rc<Env>),
    Thunk(Rc<Thunk>),
    Other(#[allow(dead_code)] Value),
    Bulk(#[allow(dead_code)] Rc<Bulk>),
}

impl Held {
    /// A new counted reference to `node`.
    ///
    /// # Safety
    /// As for `Node::strong_count`.
    unsafe fn take(node: Node) -> Held {
        /// # Safety
        /// As for `Held::take`; the count taken is given back when the
        /// returned `Rc` is dropped.
        unsafe fn rc<T>(p: *const T) -> Rc<T> {
            // SAFETY: as for the function.
            unsafe {
                Rc::increment_strong_count(p);
                Rc::from_raw(p)
            }
        }
        // SAFETY: as for the function.
        unsafe {
            match node {
                Node::Env(p) => Held::Env(rc(p)),
                Node::Thunk(p) => Held::Thunk(rc(p)),
                Node::Attrs(p) => Held::Other(Value::Attrs(rc(p))),
                Node::List(p) => Held::Other(Value::List(rc(p))),
                Node::Closure(p) => Held::Other(Value::Lambda(rc(p))),
                Node::App(p) => Held::Other(Value::PrimOpApp(rc(p))),
                Node::Bulk(p) => Held::Bulk(rc(p)),
            }
        }
    }
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
            let (keep, stale): (Vec<Value>, Vec<Value>) =
                std::mem::take(&mut *c).into_iter().partition(shared);
            *c = keep;
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
        let _ = CANDIDATES.try_with(|c| c.borrow_mut().push(v));
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
            if let Ok(state) = t.0.try_borrow() {
                match &*state {
                    ThunkState::Done(x) => out.push(x.clone()),
                    ThunkState::Apply(app) => out.extend([app.0.clone(), app.1.clone()]),
                    _ => {}
                }
            }
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
        Value::Attrs(a) => Rc::strong_count(a),
        Value::List(l) => Rc::strong_count(l),
        Value::Lambda(f) => Rc::strong_count(f),
        Value::PrimOpApp(p) => Rc::strong_count(p),
        Value::Thunk(t) => Rc::strong_count(t),
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
        let ThunkState::Pending(_, inner) = &*t.0.borrow() else {
            panic!("thunk emptied")
        };
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
