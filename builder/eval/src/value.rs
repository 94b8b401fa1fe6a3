//! Runtime values: immutable, `Rc`-shared, with lazily evaluated thunks.
//!
//! Attribute sets are sorted vectors, a small one laid over a big one after
//! `//` (`value/attrs.rs`); lists are shared vectors, `tail` a shared slice
//! (`value/list.rs`). A value held in an attribute set or list may be a thunk;
//! `Evaluator::force` turns it into weak head normal form.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::compile::{Expr, Lambda};

use crate::error::{EvalResult, Pos};
use crate::eval::Evaluator;

mod attrs;
pub mod cycles;
mod list;
mod obj;
mod release;

pub use attrs::{update, Attrs, Iter as AttrsIter, PlaceHint};
pub use list::List;
pub use obj::Obj;

/// An attribute name: an interned, never freed string (like Nix's symbol
/// table). Copying or dropping one touches no reference count (attribute
/// sets are copied wholesale by `//`), and names interned on the same thread
/// compare equal by pointer; equality falls back to the bytes, so a name
/// from another thread is still equal to its twin.
///
/// It is one thin pointer to a leaked block holding the length (4 bytes,
/// little-endian) followed by the UTF-8 bytes: an `Attr` is then 32 bytes,
/// and reading the name touches one cache line, not a header and then the text.
#[derive(Clone)]
pub struct Sym(std::ptr::NonNull<u8>);

/// Leaks `[len as u32 LE][bytes]` and returns a pointer to its start.
fn leak_name(name: &str) -> std::ptr::NonNull<u8> {
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    // Names longer than 4 GiB cannot come from a Nix string in practice;
    // they are cut rather than mis-read.
    let bytes = &name.as_bytes()[..len as usize];
    let mut block = Vec::with_capacity(4 + bytes.len());
    block.extend_from_slice(&len.to_le_bytes());
    block.extend_from_slice(bytes);
    let leaked: &'static mut [u8] = Box::leak(block.into_boxed_slice());
    // A slice's pointer carries provenance over the whole block.
    std::ptr::NonNull::from(leaked).cast::<u8>()
}

thread_local! {
    static SYMBOLS: RefCell<std::collections::HashMap<&'static str, Sym, FxBuild>> =
        RefCell::new(Default::default());
}

/// A small fast hash (Fx, as rustc uses) for the symbol table: names are
/// short and not attacker-chosen in a way that matters for one evaluation.
#[derive(Default, Clone, Copy)]
struct FxBuild;

struct Fx(u64);

impl std::hash::BuildHasher for FxBuild {
    type Hasher = Fx;
    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

impl std::hash::Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The interned `Sym` for `name`.
pub fn intern(name: &str) -> Sym {
    SYMBOLS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(s) = t.get(name) {
            return s.clone();
        }
        let s = Sym(leak_name(name));
        t.insert(s.as_str(), s.clone());
        s
    })
}

/// Makes room in the symbol table for `n` more names (a builtin about to
/// make many, such as `listToAttrs`), so it grows once rather than by doubling.
pub fn reserve_symbols(n: usize) {
    SYMBOLS.with(|t| t.borrow_mut().reserve(n));
}

impl Sym {
    #[inline]
    pub fn as_str(&self) -> &'static str {
        let p = self.0.as_ptr();
        // SAFETY: a `Sym` is only made by `leak_name`, which leaked (never to
        // be freed or written again) a block of a 4-byte length followed by
        // that many bytes copied from a `str`: valid UTF-8, in bounds.
        unsafe {
            let len = u32::from_le_bytes(*(p as *const [u8; 4])) as usize;
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.add(4), len))
        }
    }
}

impl std::ops::Deref for Sym {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Sym {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Sym {
    #[inline]
    fn eq(&self, other: &Sym) -> bool {
        self.0 == other.0 || self.as_str() == other.as_str()
    }
}

impl Eq for Sym {}

impl PartialEq<str> for Sym {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Sym {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sym {
    #[inline]
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        name_cmp(self.as_str(), other.as_str())
    }
}

impl std::hash::Hash for Sym {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl std::fmt::Display for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Sym {
        intern(s)
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Sym {
        intern(&s)
    }
}

impl From<&String> for Sym {
    fn from(s: &String) -> Sym {
        intern(s)
    }
}

/// String context: the store paths a string refers to, encoded as Nix does
/// (`/nix/store/x` plain, `=/nix/store/x.drv` whole closure, `!out!/nix/store/x.drv` an output).
pub type Context = BTreeSet<String>;

/// A string value with its context.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NixString {
    pub s: String,
    pub ctx: Context,
}

impl NixString {
    pub fn plain(s: impl Into<String>) -> Self {
        NixString {
            s: s.into(),
            ctx: Context::new(),
        }
    }
}

/// A built-in function of fixed arity; arguments arrive unforced.
pub struct PrimOp {
    pub name: &'static str,
    pub arity: usize,
    pub fun: fn(&mut Evaluator, &[Value], Pos) -> EvalResult<Value>,
}

/// A built-in applied to fewer arguments than its arity.
pub struct PartialApp {
    pub op: Obj<PrimOp>,
    pub args: Vec<Value>,
}

/// A lambda closed over its defining environment.
pub struct Closure {
    pub lambda: &'static Lambda,
    /// Dropped through `release`: a chain of closures each holding the
    /// last in its frame (`foldl' (acc: _: x: acc)`) is a chain of drops.
    /// Frames are not guarded themselves: a call's frame is the most
    /// frequent object, and a chain of frames passes through a closure or
    /// a thunk (a frame's parent is its lambda's lexical scope).
    pub env: std::mem::ManuallyDrop<Rc<Env>>,
}

impl Closure {
    pub fn new(lambda: &'static Lambda, env: Rc<Env>) -> Closure {
        Closure {
            lambda,
            env: std::mem::ManuallyDrop::new(env),
        }
    }
}

impl Drop for Closure {
    fn drop(&mut self) {
        // SAFETY: `env` is taken once, here, and not used after.
        release::release(unsafe { std::mem::ManuallyDrop::take(&mut self.env) });
    }
}

/// A run-time environment frame: slots for the variables of one scope.
/// `with` frames hold the attribute set (possibly a thunk) in slot 0.
///
/// Frames of one slot (single-argument lambdas, `with`) keep it inline, so a
/// call allocates one object rather than two.
///
/// The slots sit in an `UnsafeCell` rather than a `RefCell`, as a thunk's
/// state does (see `Thunk`): a call's frame is then 48 bytes, not 64, and a
/// variable is read without a borrow flag. Every access goes through the
/// methods below, which clone out or swap in and never keep a reference
/// into the cell while code that could reach the frame runs.
pub struct Env {
    vals: std::cell::UnsafeCell<Slots>,
    pub parent: Option<Rc<Env>>,
}

/// Boxed slices, not vectors: a frame is then 32 bytes (a 48-byte
/// allocation with its counts) rather than 40 (56).
enum Slots {
    One(Value),
    Many(Box<[Value]>),
    /// The slots of a recursive scope (`let`, `rec`, defaults), registered
    /// with `cycles`, which is told when the frame dies.
    Rec(RecSlots),
}

/// The slots of a recursive scope: only their drop differs from `Many`'s
/// (other frames' drops stay as they were).
struct RecSlots(Box<[Value]>);

impl Drop for RecSlots {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            cycles::frame_died(std::mem::take(&mut self.0).into_vec());
        }
    }
}

impl Env {
    pub fn new(vals: Vec<Value>, parent: Option<Rc<Env>>) -> Rc<Env> {
        cycles::made();
        Rc::new(Env {
            vals: std::cell::UnsafeCell::new(Slots::Many(vals.into_boxed_slice())),
            parent,
        })
    }
    /// A frame holding exactly one value.
    pub fn one(val: Value, parent: Option<Rc<Env>>) -> Rc<Env> {
        // Not counted for walks: a call's frame is the most frequent
        // object, and counting it cost 1.5 % of `modules`' instructions.
        Rc::new(Env {
            vals: std::cell::UnsafeCell::new(Slots::One(val)),
            parent,
        })
    }
    /// An empty frame of a recursive scope (`let`, `rec`, defaults), whose
    /// thunks point at it before its values exist (`set_all` fills it); its
    /// values may come to point back at it, so `cycles` keeps track of it.
    pub fn new_rec(parent: Option<Rc<Env>>) -> Rc<Env> {
        let env = Rc::new(Env {
            vals: std::cell::UnsafeCell::new(Slots::Rec(RecSlots(Box::default()))),
            parent,
        });
        cycles::register(&env);
        env
    }
    /// The slots, to look at.
    ///
    /// # Safety
    /// The reference must be gone before anything writes this frame's slots:
    /// before evaluating, making a thunk or frame (a cycle walk may start and
    /// empty garbage frames), or dropping a value.
    #[inline]
    unsafe fn slots(&self) -> &Slots {
        // SAFETY: as for the function.
        unsafe { &*self.vals.get() }
    }
    /// Puts `slots` in and gives back the old ones, for the caller to drop
    /// once the cell is no longer being written.
    #[inline]
    fn swap_slots(&self, slots: Slots) -> Slots {
        // SAFETY: no reference into the cell outlives `slots`' callers.
        unsafe { std::ptr::replace(self.vals.get(), slots) }
    }
    /// Fills a frame created empty (for `rec`, `let` and formals, whose
    /// thunks must point at the frame before its values exist).
    pub fn set_all(&self, vals: Vec<Value>) {
        // SAFETY: only the variant is read.
        let rec = matches!(unsafe { self.slots() }, Slots::Rec(_));
        let old = self.swap_slots(if rec {
            Slots::Rec(RecSlots(vals.into_boxed_slice()))
        } else {
            Slots::Many(vals.into_boxed_slice())
        });
        drop(old);
    }
    #[inline]
    pub fn get(&self, i: usize) -> Value {
        // SAFETY: cloning a value runs nothing that reaches this frame.
        match unsafe { self.slots() } {
            Slots::One(v) => v.clone(),
            Slots::Many(v) | Slots::Rec(RecSlots(v)) => v[i].clone(),
        }
    }
    /// Replaces slot `i`: a thunk forced through a variable is written back
    /// as its value, so later reads skip the thunk.
    #[inline]
    pub fn set(&self, i: usize, v: Value) {
        // SAFETY: the old value is moved out of the cell before it is
        // dropped (its drop may reach this frame); nothing else runs while
        // the slot is written.
        let old = unsafe {
            match &mut *self.vals.get() {
                Slots::One(x) => std::mem::replace(x, v),
                Slots::Many(x) | Slots::Rec(RecSlots(x)) => std::mem::replace(&mut x[i], v),
            }
        };
        drop(old);
    }
    /// Slot `i`'s value if it needs no evaluation (a forced thunk gives its
    /// value), without evaluating anything.
    #[inline]
    pub fn peek_forced(&self, i: usize) -> Option<Value> {
        // SAFETY: cloning a value runs nothing that reaches this frame.
        let v = match unsafe { self.slots() } {
            Slots::One(v) => Some(v),
            // A frame still being filled (let, rec) has no slots yet.
            Slots::Many(v) | Slots::Rec(RecSlots(v)) => v.get(i),
        }?;
        match v {
            Value::Thunk(t) => t.done(),
            v => Some(v.clone()),
        }
    }

    /// Slot `i` if it already holds an integer (directly or as a forced
    /// thunk), without evaluating anything.
    #[inline]
    pub fn peek_int(&self, i: usize) -> Option<i64> {
        // SAFETY: only looked at; `Thunk::peek` runs nothing either.
        let v = match unsafe { self.slots() } {
            Slots::One(v) => Some(v),
            // A frame still being filled (let, rec) has no slots yet.
            Slots::Many(v) | Slots::Rec(RecSlots(v)) => v.get(i),
        }?;
        match v {
            Value::Int(n) => Some(*n),
            Value::Thunk(t) => t.peek(|s| match s {
                ThunkState::Done(Value::Int(n)) => Some(*n),
                _ => None,
            }),
            _ => None,
        }
    }
    /// Calls `f` with all slots. `f` must only look (match, clone): it must
    /// not evaluate, make thunks or frames, or drop values.
    pub(crate) fn with_vals<T>(&self, f: impl FnOnce(&[Value]) -> T) -> T {
        // SAFETY: as for the function's contract.
        match unsafe { self.slots() } {
            Slots::One(v) => f(std::slice::from_ref(v)),
            Slots::Many(v) | Slots::Rec(RecSlots(v)) => f(v),
        }
    }
    /// What the cycle walk reads: the slots, without cloning.
    ///
    /// # Safety
    /// As for `slots`.
    pub(crate) unsafe fn slots_for_walk(&self) -> &[Value] {
        // SAFETY: as for the function.
        match unsafe { self.slots() } {
            Slots::One(v) => std::slice::from_ref(v),
            Slots::Many(v) | Slots::Rec(RecSlots(v)) => v,
        }
    }
    /// Empties a garbage frame (the cycle walk): its values are given back
    /// without telling `cycles` that a frame died.
    pub(crate) fn empty_garbage(&self) -> Vec<Value> {
        match self.swap_slots(Slots::Many(Box::default())) {
            Slots::One(v) => vec![v],
            Slots::Many(v) => v.into_vec(),
            Slots::Rec(mut rec) => std::mem::take(&mut rec.0).into_vec(),
        }
    }
}

/// Native lazy computation used by builtins that return lazy structure.
pub type NativeThunk = Rc<dyn Fn(&mut Evaluator) -> EvalResult<Value>>;

/// The shared part of the elements of a lazily mapped list or set: element
/// `i` is a `ThunkState::Bulk` pointing here, one allocation per element
/// rather than a thunk plus its own application record.
pub enum Bulk {
    /// `genList f n`: element `i` is `f i`.
    GenList { f: Value, pos: Pos },
    /// `map f list`: element `i` is `f list[i]`.
    Map { f: Value, list: Obj<List>, pos: Pos },
    /// `mapAttrs f set`: element `i` is `f name value` of the attribute at
    /// place `i` (`Attrs::at_place`); the name string is made only when the
    /// value is forced.
    MapAttrs {
        f: Value,
        attrs: Obj<Attrs>,
        pos: Pos,
    },
    /// `zipAttrsWith f sets`: element `i` is `f name values` of the `i`th
    /// name (with the list of its values).
    ZipAttrs {
        f: Value,
        args: Vec<(Value, Value)>,
        pos: Pos,
    },
}

pub enum ThunkState {
    Pending(&'static Expr, Rc<Env>),
    /// The selection `.0` (`x.a.b`) whose sets up to the last are already
    /// forced: the last, `.1`, is kept instead of the scope `x` was read in,
    /// which then need not stay alive until this thunk is forced.
    Select(&'static Expr, Obj<Attrs>),
    /// Element `.1` of a lazily mapped list or set.
    Bulk(Rc<Bulk>, usize),
    /// `f arg` (from `map`, `genList`, ...); boxed so that the common
    /// states stay two words and a thunk fits a 48-byte allocation.
    Apply(Box<(Value, Value, Pos)>),
    Native(NativeThunk),
    Blackhole,
    Done(Value),
}

/// A memoised suspended computation.
///
/// The state sits in an `UnsafeCell` rather than a `RefCell`: a thunk is
/// then 40 bytes rather than 48, and reading a forced one checks no borrow
/// flag. What makes that sound is that every access is one of the three
/// methods below, none of which runs evaluation, allocates a thunk (which
/// could start a cycle walk that writes thunks) or keeps a reference into
/// the cell past its return: a reader gets a clone, a writer swaps states.
pub struct Thunk(std::cell::UnsafeCell<ThunkState>);

impl Thunk {
    #[inline]
    pub fn new(state: ThunkState) -> Thunk {
        Thunk(std::cell::UnsafeCell::new(state))
    }

    /// The value, if the thunk was forced.
    #[inline]
    pub fn done(&self) -> Option<Value> {
        // SAFETY: see the type: no reference into the cell is alive now,
        // and cloning a value runs no code that could reach this thunk.
        match unsafe { &*self.0.get() } {
            ThunkState::Done(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// What `f` makes of the state. `f` must only look (match, clone): it
    /// gets a reference into the cell, so it must not evaluate, make
    /// thunks, or drop values.
    #[inline]
    pub(crate) fn peek<R>(&self, f: impl FnOnce(&ThunkState) -> R) -> R {
        // SAFETY: see the type and the contract above.
        f(unsafe { &*self.0.get() })
    }

    /// Puts `state` in and gives back the old one, for the caller to drop
    /// once the cell is no longer being written.
    #[inline]
    pub(crate) fn replace(&self, state: ThunkState) -> ThunkState {
        // SAFETY: see the type: no reference into the cell is alive now.
        unsafe { std::ptr::replace(self.0.get(), state) }
    }
}

impl Drop for Thunk {
    fn drop(&mut self) {
        match self.0.get_mut() {
            // A value is a set, list, function or string: the first three
            // guard their own drops, so the common case costs nothing here.
            ThunkState::Done(_) | ThunkState::Blackhole => {}
            state => release::release(std::mem::replace(state, ThunkState::Blackhole)),
        }
    }
}

impl Drop for PartialApp {
    fn drop(&mut self) {
        release::release(std::mem::take(&mut self.args));
    }
}

/// One attribute: name, value and where it was defined.
#[derive(Clone)]
pub struct Attr {
    pub name: Sym,
    pub value: Value,
    pub pos: Pos,
}

/// Orders attribute names as `str`'s `Ord` does (bytewise), faster for the
/// short names attribute sets hold: the same string compares equal at once,
/// and eight bytes are compared at a time, without a call to `memcmp`.
#[inline]
pub fn name_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if std::ptr::eq(a, b) {
        return std::cmp::Ordering::Equal;
    }
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_be_bytes(a[i..i + 8].try_into().unwrap_or([0; 8]));
        let y = u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

/// The tag is a whole word (`repr(u64)`), so every payload starts at byte 8:
/// with a one-byte tag, moving a value copied 15 bytes with two overlapping
/// loads, which stalled on the store just made (measured: attribute
/// selection in a loop took 0.38 s instead of 0.27 s).
#[repr(u64)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Obj<NixString>),
    /// A path; `Obj<String>` (not `Rc<str>`) keeps `Value` at 16 bytes.
    Path(Obj<String>),
    Attrs(Obj<Attrs>),
    List(Obj<List>),
    Lambda(Obj<Closure>),
    PrimOp(Obj<PrimOp>),
    PrimOpApp(Obj<PartialApp>),
    Thunk(Obj<Thunk>),
}

/// Every counted variant holds an `Obj`, whose count is the first word of
/// its object, so this is one test of the tag and one increment; the derived clone jumped through a
/// table by variant, an indirect branch often mispredicted (a quarter of
/// the time spent cloning in `minimal10`).
impl Clone for Value {
    #[inline]
    fn clone(&self) -> Value {
        // SAFETY: each `Obj` is live (borrowed through `self`); bumping its
        // count makes the bitwise copy an owner of one more count, which is
        // exactly what `Obj::clone` does.
        unsafe {
            // The tag is the first word (`repr(u64)`); the four variants
            // without a count come first.
            if *(self as *const Value as *const u64) < 4 {
                return std::ptr::read(self);
            }
            // Every other variant holds one `Obj` (a pointer to its count)
            // as the second word.
            obj::bump(*(self as *const Value as *const *const ()).add(1));
            std::ptr::read(self)
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::Str(Obj::new(NixString::plain(s)))
    }
    pub fn string_ctx(s: String, ctx: Context) -> Value {
        Value::Str(Obj::new(NixString { s, ctx }))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(List::new(v))
    }
    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Obj::new(a))
    }
    #[inline(always)]
    pub fn thunk(state: ThunkState) -> Value {
        cycles::made();
        Value::Thunk(Obj::new(Thunk::new(state)))
    }
    pub fn apply_lazy(f: Value, arg: Value, pos: Pos) -> Value {
        Value::thunk(ThunkState::Apply(Box::new((f, arg, pos))))
    }
    pub fn native(f: impl Fn(&mut Evaluator) -> EvalResult<Value> + 'static) -> Value {
        Value::thunk(ThunkState::Native(Rc::new(f)))
    }

    /// The type as `builtins.typeOf` names it.
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..) => "lambda",
            Value::Thunk(_) => "thunk",
        }
    }

    /// The type as Nix's error messages name it ("an integer", "a set", ...).
    pub fn show_type(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(_) => "a Boolean".into(),
            Value::Int(_) => "an integer".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Path(_) => "a path".into(),
            Value::Attrs(_) => "a set".into(),
            Value::List(_) => "a list".into(),
            Value::Lambda(_) => "a function".into(),
            Value::PrimOp(p) => format!("the built-in function '{}'", p.name),
            Value::PrimOpApp(p) => {
                format!("the partially applied built-in function '{}'", p.op.name)
            }
            Value::Thunk(_) => "a thunk".into(),
        }
    }

    pub fn is_function(&self) -> bool {
        matches!(
            self,
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(..)
        )
    }
}

// Values are returned from every evaluation step; at 16 bytes an
// `EvalResult<Value>` comes back in two registers.
const _: () = assert!(std::mem::size_of::<Value>() == 16);
const _: () = assert!(std::mem::size_of::<ThunkState>() == 24);
const _: () = assert!(std::mem::size_of::<Attr>() == 32);
const _: () = assert!(std::mem::size_of::<Option<Value>>() == 16);
const _: () = assert!(std::mem::size_of::<EvalResult<Value>>() == 16);
const _: () = assert!(std::mem::size_of::<Env>() == 32);
// What `Value::clone` relies on: an `Obj` is one pointer, the second word.
const _: () = assert!(std::mem::size_of::<Obj<Thunk>>() == 8);
