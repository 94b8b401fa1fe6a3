//! b8g-eval: a lazy evaluator for the Nix language, on rnix.
//!
//! Source is compiled once into a compact tree with resolved variable slots
//! (`compile`), then evaluated lazily with memoised thunks (`eval`). File
//! access comes through `EvalIo`; the store is reached only through the
//! small `EvalHost` trait (its directory, copying interpolated paths) and
//! through builtins its owner registers (`Evaluator::with_builtins`), so
//! this crate knows nothing of store formats. `run_with_big_stack`
//! runs an evaluation on a thread with a large stack so deep recursion ends in
//! a clean error rather than a crash.

/// The allocator b8g-eval is tuned and measured with, for binaries to install
/// (`#[global_allocator] static ALLOC: b8g_eval::MiMalloc = b8g_eval::MiMalloc;`):
/// evaluation makes many small, short-lived allocations (thunks, envs,
/// attribute vectors), and glibc's malloc spends a third of the time of a
/// lib-style fixpoint consolidating its bins whenever a large attribute
/// vector is freed; mimalloc does not. A library does not choose the process
/// allocator itself.
///
/// It is mimalloc with plain `mi_malloc` for the word-aligned layouts that
/// are nearly all of evaluation's (every mimalloc block is word-aligned).
/// `mimalloc::MiMalloc` asks for every block with `mi_malloc_aligned`, whose
/// slow path over-allocates sizes that are not a power of two (a 48-byte
/// thunk took a 56-byte block) and never refills the right size class, so
/// once a class ran dry all its blocks came that way. Sizes up to
/// `MI_SMALL_SIZE_MAX` (1 KiB) go straight to `mi_malloc_small`, which skips
/// `mi_malloc`'s size dispatch: 2.3 % of `modules`' instructions, where two
/// million blocks are asked for.
#[cfg(feature = "mimalloc")]
pub struct MiMalloc;

#[cfg(feature = "mimalloc")]
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc's `MI_SMALL_SIZE_MAX`: 128 words.
#[cfg(feature = "mimalloc")]
const MI_SMALL_SIZE_MAX: usize = 128 * WORD;

// mimalloc's small-block entry points, in the library `libmimalloc-sys`
// links; declared here rather than through its `extended` feature, which
// brings one more crate into the vendored build of b8g.
#[cfg(feature = "mimalloc")]
unsafe extern "C" {
    fn mi_malloc_small(size: usize) -> *mut std::ffi::c_void;
    fn mi_zalloc_small(size: usize) -> *mut std::ffi::c_void;
}

#[cfg(feature = "mimalloc")]
// SAFETY: every method hands the layout to mimalloc, which returns blocks of
// at least the asked size, aligned to a word or, through the `_aligned`
// calls, to the asked alignment; blocks are freed with `mi_free`, which takes
// blocks from either kind of call.
unsafe impl std::alloc::GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= WORD && layout.align() <= layout.size() {
            if layout.size() <= MI_SMALL_SIZE_MAX {
                // SAFETY: as for the impl; the size is a small one.
                return unsafe { mi_malloc_small(layout.size()).cast() };
            }
            // SAFETY: as for the impl.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: as for the impl.
            unsafe { libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if layout.align() <= WORD && layout.align() <= layout.size() {
            if layout.size() <= MI_SMALL_SIZE_MAX {
                // SAFETY: as for the impl; the size is a small one.
                return unsafe { mi_zalloc_small(layout.size()).cast() };
            }
            // SAFETY: as for the impl.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: as for the impl.
            unsafe { libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: as for the impl.
        unsafe {
            libmimalloc_sys::mi_free(ptr.cast());
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD && layout.align() <= new_size {
            // SAFETY: as for the impl.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: as for the impl.
            unsafe {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// mimalloc asks for transparent huge pages; with the kernel in `madvise`
/// mode every 2 MiB page it touches is then zeroed and kept whole, which for
/// an evaluation costs more (page clearing, resident memory: 11 MiB before
/// anything is evaluated) than it saves. Turned off once per process, before
/// evaluating; binaries call it at start-up, since other work in the same
/// process (a cache server's many threads) pays the same price. mimalloc maps
/// its first arena before `main`, so it is built with `no_thp` (Cargo.toml) to
/// not ask for huge pages there: that saved 3.5 MB of resident memory.
pub fn no_huge_pages() {
    #[cfg(all(feature = "mimalloc", target_os = "linux"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process; a
            // failure (old kernel) leaves the default, which is harmless.
            unsafe {
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
            }
        });
    }
}

pub mod builtins;
pub mod compile;
pub mod drv;
pub mod error;
pub mod eval;
pub mod io;
mod parse;
mod parse_error;
pub mod print;
pub mod value;
pub mod xml;

pub use error::{ErrorKind, EvalError, EvalResult, Pos};
pub use eval::{parse_search_path, trace_line, warning_line, EvalOptions, Evaluator};
pub use io::{EvalHost, EvalIo, FileType, HostError, NoStore, StdIo};
pub use value::{Attrs, Context, NixString, PrimOp, Value};

/// Output mode for `eval_to_text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// `nix-instantiate --eval` (unforced parts print as `<CODE>`).
    Lazy,
    /// `--eval --strict`.
    Strict,
    /// `--eval --strict --json`.
    Json,
}

/// Forces (as asked) and renders a value as `nix-instantiate --eval` prints it.
pub fn value_to_text(ev: &mut Evaluator, v: Value, mode: OutputMode) -> EvalResult<String> {
    match mode {
        OutputMode::Lazy => {
            let v = ev.force(v)?;
            print::print_value(ev, v, false)
        }
        OutputMode::Strict => {
            let v = ev.deep_force(v, Pos::NONE)?;
            print::print_value(ev, v, true)
        }
        OutputMode::Json => {
            let mut ctx = value::Context::new();
            print::to_json(ev, v, &mut ctx, Pos::NONE)
        }
    }
}

/// Stack size for evaluation threads; with `EvalOptions::max_depth` this
/// bounds recursion well inside the stack.
pub const EVAL_STACK_SIZE: usize = 1 << 30;

/// A job for an evaluation thread: runs the caller's closure and sends its
/// result (or the panic) back.
type Job = Box<dyn FnOnce() + Send>;

/// Evaluation threads waiting for work. A thread is kept after its job
/// rather than joined: an exiting thread hands its allocator heap back, and
/// mimalloc walks the free list of every page it ever used to do so (13 % of
/// a 0.1 s evaluation), and a process that evaluates again would pay for the
/// thread's start-up a second time. A parked thread costs nothing at process
/// exit, which does not wait for it.
static IDLE_THREADS: std::sync::Mutex<Vec<std::sync::mpsc::Sender<Job>>> =
    std::sync::Mutex::new(Vec::new());

/// The smallest stack an evaluation thread is started with when the machine
/// refuses `EVAL_STACK_SIZE` (a 512 MiB VM cannot map 1 GiB).
const MIN_EVAL_STACK_SIZE: usize = 64 << 20;

thread_local! {
    /// Stack bytes evaluation may use on this thread: 7/8 of the stack an
    /// evaluation thread got; unlimited (the options' budget) elsewhere.
    static STACK_BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

pub(crate) fn thread_stack_budget() -> usize {
    STACK_BUDGET.with(|b| b.get())
}

fn spawn_eval_thread() -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let mut size = EVAL_STACK_SIZE;
    loop {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("b8g-eval".into())
            .stack_size(size)
            .spawn(move || {
                STACK_BUDGET.with(|b| b.set(size / 8 * 7));
                // Ends when the sender is dropped (after a panic, see below).
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        match spawned {
            Ok(_) => return Ok(tx),
            // The kernel would not map that much stack: half as much, down to the floor.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && size > MIN_EVAL_STACK_SIZE => {
                size /= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs `f` on a thread with a big stack and returns its result.
///
/// The thread is one of a pool kept for the life of the process (see
/// `IDLE_THREADS`); thread-local state left behind by an evaluation (interned
/// names, source texts for error messages) is only ever added to.
pub fn run_with_big_stack<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    no_huge_pages();
    let (result_tx, result_rx) = std::sync::mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = result_tx.send(r);
    });
    let idle = IDLE_THREADS.lock().ok().and_then(|mut v| v.pop());
    let (thread, job) = match idle {
        Some(tx) => match tx.send(job) {
            Ok(()) => (tx, None),
            // That thread is gone; the job goes to a new one.
            Err(std::sync::mpsc::SendError(job)) => (spawn_eval_thread()?, Some(job)),
        },
        None => (spawn_eval_thread()?, Some(job)),
    };
    if let Some(job) = job {
        thread
            .send(job)
            .map_err(|_| std::io::Error::other("evaluation thread exited"))?;
    }
    match result_rx.recv() {
        Ok(Ok(v)) => {
            if let Ok(mut idle) = IDLE_THREADS.lock() {
                idle.push(thread);
            }
            Ok(v)
        }
        // A thread that panicked is not reused (dropping `thread` ends it):
        // its thread-local state may be half updated.
        Ok(Err(_)) | Err(_) => Err(std::io::Error::other("evaluation thread panicked")),
    }
}

/// Calls `v` if it is a function taking an attribute set, as `nix-instantiate`
/// does with `--arg`/`--argstr` (Nix's `autoCallFunction`): formals present in
/// `args` are passed (all of `args` to a function with `...`), the others keep
/// their defaults; a set with `__functor` is called through it first. Other
/// values are returned as they are.
pub fn auto_call(ev: &mut Evaluator, v: Value, args: &Attrs) -> EvalResult<Value> {
    let v = ev.force(v)?;
    if let Value::Attrs(a) = &v {
        if let Some(functor) = a.get("__functor").cloned() {
            let f = ev.call(functor, v.clone(), Pos::NONE)?;
            return auto_call(ev, f, args);
        }
    }
    let formals = match &v {
        Value::Lambda(c) => match &c.lambda.param {
            compile::Param::Pattern {
                formals,
                ellipsis,
                positions,
                ..
            } => Some((formals, *ellipsis, positions)),
            compile::Param::Ident(_) => None,
        },
        _ => None,
    };
    let Some((formals, ellipsis, positions)) = formals else {
        return Ok(v);
    };
    if !ellipsis {
        // Nix names the first missing argument in name order, where it is written.
        let mut missing: Vec<(&str, Pos)> = formals
            .iter()
            .zip(positions)
            .filter(|((n, d), _)| d.is_none() && args.get_sym(n).is_none())
            .map(|((n, _), p)| (n.as_str(), *p))
            .collect();
        missing.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if let Some((name, pos)) = missing.first() {
            return error::err(
                format!(
                    "cannot evaluate a function that has an argument without a value ('{name}')\n\n       \
                     Nix attempted to evaluate a function as a top level expression; in\n       \
                     this case it must have its arguments supplied either by default\n       \
                     values, or passed explicitly with '--arg' or '--argstr'. See\n       \
                     https://nixos.org/manual/nix/stable/#ss-functions."
                ),
                *pos,
            );
        }
    }
    let picked: Vec<value::Attr> = args
        .iter()
        .filter(|a| ellipsis || formals.iter().any(|(n, _)| *n == a.name))
        .cloned()
        .collect();
    ev.call(v, Value::attrs(Attrs::from_sorted(picked)), Pos::NONE)
}

/// For a function taking a set (`{ a, b ? 1, ... }:`), whether it has `...`;
/// `None` for anything else (`x: …`, a builtin, a non-function).
pub fn set_pattern_ellipsis(v: &Value) -> Option<bool> {
    match v {
        Value::Lambda(c) => match &c.lambda.param {
            compile::Param::Pattern { ellipsis, .. } => Some(*ellipsis),
            compile::Param::Ident(_) => None,
        },
        _ => None,
    }
}

/// `a."b.c".0` → `a`, `b.c`, `0`: the parts of an attribute path (`-A`).
pub fn split_attr_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || !parts.is_empty() {
        parts.push(cur);
    }
    parts
}

#[test]
fn attr_paths_split_on_unquoted_dots() {
    assert!(split_attr_path("").is_empty());
    assert_eq!(split_attr_path("a.b"), ["a", "b"]);
    assert_eq!(split_attr_path("a.\"b.c\".d"), ["a", "b.c", "d"]);
}

/// Follows an attribute path like `-A` (Nix's `findAlongAttrPath`): before each
/// selection the value is called with the automatic arguments if it is a
/// function taking a set; a number indexes a list; the value reached is forced
/// but not called.
pub fn find_along_attr_path(
    ev: &mut Evaluator,
    v: Value,
    path: &str,
    args: &Attrs,
) -> EvalResult<Value> {
    find_along(ev, v, path, args, true)
}

/// [`find_along_attr_path`] from `r`, the value already called with `args` (by
/// [`auto_call`]): it is not called again before the first step.
pub fn find_along_attr_path_of_called(
    ev: &mut Evaluator,
    r: Value,
    path: &str,
    args: &Attrs,
) -> EvalResult<Value> {
    find_along(ev, r, path, args, false)
}

fn find_along(
    ev: &mut Evaluator,
    mut v: Value,
    path: &str,
    args: &Attrs,
    call_first: bool,
) -> EvalResult<Value> {
    for (i, part) in split_attr_path(path).into_iter().enumerate() {
        if i > 0 || call_first {
            v = auto_call(ev, v, args)?;
        }
        v = match (&v, part.parse::<usize>()) {
            (Value::List(l), Ok(i)) => match l.get(i) {
                Some(x) => x.clone(),
                None => {
                    return error::err(
                        format!("list index {i} in selection path '{path}' is out of range"),
                        Pos::NONE,
                    )
                }
            },
            (Value::Attrs(a), _) => match a.get(&part) {
                Some(x) => x.clone(),
                None => {
                    return error::err(
                        format!("attribute '{part}' in selection path '{path}' not found"),
                        Pos::NONE,
                    )
                }
            },
            (other, _) => {
                return error::err(
                    format!(
                        "the expression selected by the selection path '{path}' should be a set but is {}",
                        other.show_type()
                    ),
                    Pos::NONE,
                )
            }
        };
    }
    ev.force(v)
}

/// The derivations `nix-instantiate` and `nix-build` take from a value (Nix's
/// `getDerivations`), each as its `.drv` path and the output the value stands
/// for (`outputName`: `out`, or `dev` for `drv.dev`; empty when it has none).
///
/// The value is auto-called with `args`; a derivation is itself; a set gives the
/// derivations among its attributes in name order, descending into those sets
/// with `recurseForDerivations = true`; a list gives those among its elements,
/// descending into every element that is not a derivation; anything else is an
/// error. A derivation value met twice (the same set: `d` and `d.out`, or `d`
/// bound to two names) is listed once.
pub fn derivation_outputs(
    ev: &mut Evaluator,
    v: Value,
    args: &Attrs,
) -> EvalResult<Vec<(String, String)>> {
    let mut found = Found::default();
    let v = auto_call(ev, v, args)?;
    found.derivations_of_called(ev, v, args)?;
    Ok(found.out)
}

/// [`derivation_outputs`] of `r`, the value already called with `args` (by
/// [`auto_call`]): it is not called again.
pub fn derivation_outputs_of_called(
    ev: &mut Evaluator,
    r: Value,
    args: &Attrs,
) -> EvalResult<Vec<(String, String)>> {
    let mut found = Found::default();
    found.derivations_of_called(ev, r, args)?;
    Ok(found.out)
}

/// [`derivation_outputs`]' `.drv` paths, without automatic arguments.
pub fn derivation_paths(ev: &mut Evaluator, v: Value) -> EvalResult<Vec<String>> {
    Ok(derivation_outputs(ev, v, &Attrs::default())?
        .into_iter()
        .map(|(drv, _)| drv)
        .collect())
}

/// The state of one [`derivation_outputs`] walk.
#[derive(Default)]
struct Found {
    /// The derivation sets listed so far, by identity (Nix's `done`).
    done: std::collections::HashSet<*const Attrs>,
    out: Vec<(String, String)>,
}

impl Found {
    /// Nix's `getDerivations`.
    fn derivations(&mut self, ev: &mut Evaluator, v: Value, args: &Attrs) -> EvalResult<()> {
        let v = auto_call(ev, v, args)?;
        self.derivations_of_called(ev, v, args)
    }

    /// Nix's `getDerivations` after its automatic call.
    fn derivations_of_called(
        &mut self,
        ev: &mut Evaluator,
        v: Value,
        args: &Attrs,
    ) -> EvalResult<()> {
        let v = ev.force(v)?;
        if !self.derivation(ev, &v)? {
            return Ok(());
        }
        match &v {
            Value::Attrs(a) => {
                for at in a.iter() {
                    let x = ev.force(at.value.clone())?;
                    if self.derivation(ev, &x)? {
                        if let Value::Attrs(xa) = &x {
                            let recurse = match xa.get("recurseForDerivations").cloned() {
                                Some(r) => ev.expect_bool(r, Pos::NONE)?,
                                None => false,
                            };
                            if recurse {
                                self.derivations(ev, x, args)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            Value::List(l) => {
                for x in l.iter() {
                    let x = ev.force(x.clone())?;
                    if self.derivation(ev, &x)? {
                        self.derivations(ev, x, args)?;
                    }
                }
                Ok(())
            }
            _ => error::err(
                "expression does not evaluate to a derivation (or a set or list of those)",
                Pos::NONE,
            ),
        }
    }

    /// Nix's `getDerivation`: lists `v` if it is a derivation not seen yet;
    /// true when it is not a derivation (the caller may look inside it).
    fn derivation(&mut self, ev: &mut Evaluator, v: &Value) -> EvalResult<bool> {
        let Value::Attrs(a) = v else {
            return Ok(true);
        };
        if !ev.is_derivation(a)? {
            return Ok(true);
        }
        if !self.done.insert(crate::value::Obj::as_ptr(a)) {
            return Ok(false);
        }
        let Some(name) = a.get("name").cloned() else {
            return error::err("derivation name missing", Pos::NONE);
        };
        ev.force_string_noctx(name, Pos::NONE)?;
        let Some(p) = a.get("drvPath").cloned() else {
            return error::err("derivation has no 'drvPath' attribute", Pos::NONE);
        };
        let drv = ev.force_string_noctx(p, Pos::NONE)?;
        let output = match a.get("outputName").cloned() {
            Some(o) => ev.force_string_noctx(o, Pos::NONE)?,
            None => String::new(),
        };
        self.out.push((drv, output));
        Ok(false)
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    /// Every layout gets a block aligned as asked, zeroed when asked, and
    /// keeping its bytes (and alignment) through `realloc`.
    #[test]
    fn mimalloc_blocks_are_aligned_and_keep_their_bytes() {
        let a = super::MiMalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 24, 40, 48, 56, 100, 4096, 100_000] {
                let layout = Layout::from_size_align(size, align).expect("valid layout");
                // SAFETY: the layout has a non-zero size; the block is
                // written within its size and freed with the same layout.
                unsafe {
                    let z = a.alloc_zeroed(layout);
                    assert!(!z.is_null());
                    assert_eq!(z as usize % align, 0, "size {size} align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let q = a.realloc(p, layout, size * 3);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    for i in 0..size {
                        assert_eq!(*q.add(i), i as u8);
                    }
                    let grown = Layout::from_size_align(size * 3, align).expect("valid layout");
                    a.dealloc(q, grown);
                }
            }
        }
    }
}
