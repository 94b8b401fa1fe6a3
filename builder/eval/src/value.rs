//! Runtime values: immutable, `Rc`-shared, with lazily evaluated thunks.
//!
//! Attribute sets are vectors sorted by name (binary search on lookup); lists
//! are shared slices. A value held in an attribute set or list may be a thunk;
//! `Evaluator::force` turns it into weak head normal form.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::compile::{Expr, Lambda};
use crate::error::{EvalResult, Pos};
use crate::eval::Evaluator;

/// An attribute name. Names are shared, never copied per use.
pub type Sym = Rc<str>;

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
    pub op: Rc<PrimOp>,
    pub args: Vec<Value>,
}

/// A lambda closed over its defining environment.
pub struct Closure {
    pub lambda: &'static Lambda,
    pub env: Rc<Env>,
}

/// A run-time environment frame: slots for the variables of one scope.
/// `with` frames hold the attribute set (possibly a thunk) in slot 0.
///
/// Frames of one slot (single-argument lambdas, `with`) keep it inline, so a
/// call allocates one object rather than two.
pub struct Env {
    vals: RefCell<Slots>,
    pub parent: Option<Rc<Env>>,
}

enum Slots {
    One(Value),
    Many(Vec<Value>),
}

impl Env {
    pub fn new(vals: Vec<Value>, parent: Option<Rc<Env>>) -> Rc<Env> {
        Rc::new(Env {
            vals: RefCell::new(Slots::Many(vals)),
            parent,
        })
    }
    /// A frame holding exactly one value.
    pub fn one(val: Value, parent: Option<Rc<Env>>) -> Rc<Env> {
        Rc::new(Env {
            vals: RefCell::new(Slots::One(val)),
            parent,
        })
    }
    /// Fills a frame created empty (for `rec`, `let` and formals, whose
    /// thunks must point at the frame before its values exist).
    pub fn set_all(&self, vals: Vec<Value>) {
        *self.vals.borrow_mut() = Slots::Many(vals);
    }
    #[inline]
    pub fn get(&self, i: usize) -> Value {
        match &*self.vals.borrow() {
            Slots::One(v) => v.clone(),
            Slots::Many(v) => v[i].clone(),
        }
    }
    /// Calls `f` with all slots.
    pub fn with_vals<T>(&self, f: impl FnOnce(&[Value]) -> T) -> T {
        match &*self.vals.borrow() {
            Slots::One(v) => f(std::slice::from_ref(v)),
            Slots::Many(v) => f(v),
        }
    }
}

/// Native lazy computation used by builtins that return lazy structure.
pub type NativeThunk = Rc<dyn Fn(&mut Evaluator) -> EvalResult<Value>>;

pub enum ThunkState {
    Pending(&'static Expr, Rc<Env>),
    /// `f arg` (from `map`, `genList`, ...); boxed so that the common
    /// states stay two words and a thunk fits a 48-byte allocation.
    Apply(Box<(Value, Value, Pos)>),
    Native(NativeThunk),
    Blackhole,
    Done(Value),
}

/// A memoised suspended computation.
pub struct Thunk(pub RefCell<ThunkState>);

/// One attribute: name, value and where it was defined.
#[derive(Clone)]
pub struct Attr {
    pub name: Sym,
    pub value: Value,
    pub pos: Pos,
}

/// An attribute set; invariant: `attrs` is sorted by name with no duplicates.
#[derive(Clone, Default)]
pub struct Attrs {
    pub attrs: Vec<Attr>,
}

impl Attrs {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).map(|i| &self.attrs[i].value)
    }
    pub fn get_attr(&self, name: &str) -> Option<&Attr> {
        self.find(name).map(|i| &self.attrs[i])
    }
    pub fn find(&self, name: &str) -> Option<usize> {
        self.attrs.binary_search_by(|a| (*a.name).cmp(name)).ok()
    }
    /// Builds from unsorted attrs; later duplicates win (as in listToAttrs, earlier wins: caller handles).
    pub fn from_sorted(attrs: Vec<Attr>) -> Attrs {
        Attrs { attrs }
    }
    pub fn from_unsorted(mut attrs: Vec<Attr>) -> Attrs {
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        attrs.dedup_by(|later, earlier| later.name == earlier.name);
        Attrs { attrs }
    }
    pub fn len(&self) -> usize {
        self.attrs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}

#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<NixString>),
    /// A path; `Rc<String>` (not `Rc<str>`) keeps `Value` at 16 bytes.
    Path(Rc<String>),
    Attrs(Rc<Attrs>),
    List(Rc<Vec<Value>>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    PrimOpApp(Rc<PartialApp>),
    Thunk(Rc<Thunk>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::Str(Rc::new(NixString::plain(s)))
    }
    pub fn string_ctx(s: String, ctx: Context) -> Value {
        Value::Str(Rc::new(NixString { s, ctx }))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }
    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Rc::new(a))
    }
    pub fn thunk(state: ThunkState) -> Value {
        Value::Thunk(Rc::new(Thunk(RefCell::new(state))))
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
