//! The walk itself: every object reachable from the live recursive frames
//! and the candidates, counted, sorted into live and garbage, and the
//! garbage emptied and given back (see `cycles`' module doc).

use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::super::{Attrs, Bulk, Closure, Env, List, Obj, PartialApp, Thunk, ThunkState, Value};
use super::{BUDGET, CANDIDATES, FACTOR, FLOOR_NOW, FRAMES, MAX_FACTOR, PRUNED_LEN, STATS};

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
            Value::Attrs(a) => Node::Attrs(Obj::as_ptr(a)),
            Value::List(l) => Node::List(Obj::as_ptr(l)),
            Value::Lambda(c) => Node::Closure(Obj::as_ptr(c)),
            Value::PrimOpApp(p) => Node::App(Obj::as_ptr(p)),
            Value::Thunk(t) => Node::Thunk(Obj::as_ptr(t)),
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
        /// # Safety
        /// As for `count`, of an `Obj`.
        unsafe fn count_obj<T>(p: *const T) -> usize {
            // SAFETY: as for the function; the `Obj` is never dropped.
            let obj = ManuallyDrop::new(unsafe { Obj::from_raw(p) });
            Obj::strong_count(&obj)
        }
        // SAFETY: as for the function.
        unsafe {
            match self {
                Node::Env(p) => count(p),
                Node::Thunk(p) => count_obj(p),
                Node::Attrs(p) => count_obj(p),
                Node::List(p) => count_obj(p),
                Node::Closure(p) => count_obj(p),
                Node::App(p) => count_obj(p),
                Node::Bulk(p) => count(p),
            }
        }
    }

    /// Pushes the objects this one holds a counted reference to, once per
    /// reference.
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
                    values(env.slots_for_walk(), out);
                    if let Some(parent) = &env.parent {
                        out.push(Node::Env(Rc::as_ptr(parent)));
                    }
                }
                Node::Thunk(p) => {
                    (*p).peek(|state| match state {
                        ThunkState::Pending(_, env) => out.push(Node::Env(Rc::as_ptr(env))),
                        ThunkState::Select(_, set) => out.push(Node::Attrs(Obj::as_ptr(set))),
                        ThunkState::Bulk(b, _) => out.push(Node::Bulk(Rc::as_ptr(b))),
                        ThunkState::Apply(app) => {
                            out.extend(Node::of_value(&app.0));
                            out.extend(Node::of_value(&app.1));
                        }
                        ThunkState::Done(v) => values(std::slice::from_ref(v), out),
                        // A builtin's closure: what it holds is not seen.
                        ThunkState::Native(_) | ThunkState::Blackhole => {}
                    })
                }
                Node::Attrs(p) => {
                    let (own, base) = (*p).layers();
                    out.extend(own.iter().filter_map(|a| Node::of_value(&a.value)));
                    if let Some(base) = base {
                        out.push(Node::Attrs(Obj::as_ptr(base)));
                    }
                }
                Node::List(p) => match &*p {
                    List::Own(vs) => values(vs, out),
                    // The elements belong to `of`, which holds them.
                    List::Slice { of, .. } => out.push(Node::List(Obj::as_ptr(of))),
                },
                Node::Closure(p) => out.push(Node::Env(Rc::as_ptr(&(*p).env))),
                Node::App(p) => values(&(*p).args, out),
                Node::Bulk(p) => match &*p {
                    Bulk::GenList { f, .. } => values(std::slice::from_ref(f), out),
                    Bulk::Map { f, list, .. } => {
                        values(std::slice::from_ref(f), out);
                        out.push(Node::List(Obj::as_ptr(list)));
                    }
                    Bulk::MapAttrs { f, attrs, .. } => {
                        values(std::slice::from_ref(f), out);
                        out.push(Node::Attrs(Obj::as_ptr(attrs)));
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

/// The bucket of an address in `Graph::place`: its word within its 64 KiB
/// block in the low 13 bits, so objects made one after another (which the
/// walk reaches one after another) fall in neighbouring buckets and the table
/// is read mostly in order; a mix of the block's number above them, so that
/// blocks do not all land on the same buckets; a mix of the whole address in
/// the top seven, which the table keeps as a tag to filter probes with. With
/// the plain address above the low bits, blocks a power of two apart shared
/// their buckets and probes grew long: walking 5 000 000 objects of 32 bytes
/// took 10 times as long as it does now.
fn addr_hash(addr: usize) -> u64 {
    const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
    let a = addr as u64;
    let block = (a >> 16).wrapping_mul(MIX) >> 20;
    ((a >> 3) & 0x1fff | block << 13) ^ (a.wrapping_mul(MIX) & (0x7f << 57))
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
    let candidates: Vec<Value> = CANDIDATES.with(|c| c.borrow_mut().take());
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
                // Distinct: they were candidates together.
                let _ = c.add(v);
            } else {
                dead_candidates.push(v);
            }
        }
    });
    // Emptying the frames and thunks breaks every cycle (each goes through
    // one).
    for h in &held {
        match h {
            Held::Env(e) => {
                // A garbage frame's values are garbage: not candidates.
                drop(e.empty_garbage());
            }
            Held::Thunk(t) => {
                // Dropped once the cell holds the blackhole.
                drop(t.replace(ThunkState::Blackhole));
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
    Thunk(Obj<Thunk>),
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
        /// # Safety
        /// As for `rc`, of an `Obj`.
        unsafe fn obj<T>(p: *const T) -> Obj<T> {
            // SAFETY: as for the function.
            unsafe {
                Obj::increment_strong_count(p);
                Obj::from_raw(p)
            }
        }
        // SAFETY: as for the function.
        unsafe {
            match node {
                Node::Env(p) => Held::Env(rc(p)),
                Node::Thunk(p) => Held::Thunk(obj(p)),
                Node::Attrs(p) => Held::Other(Value::Attrs(obj(p))),
                Node::List(p) => Held::Other(Value::List(obj(p))),
                Node::Closure(p) => Held::Other(Value::Lambda(obj(p))),
                Node::App(p) => Held::Other(Value::PrimOpApp(obj(p))),
                Node::Bulk(p) => Held::Bulk(rc(p)),
            }
        }
    }
}
