//! b8g-eval: a lazy evaluator for the Nix language, on rnix.
//!
//! Source is compiled once into a compact tree with resolved variable slots
//! (`compile`), then evaluated lazily with memoised thunks (`eval`). File
//! access and store operations come through the `EvalIo` and `EvalHost`
//! traits (`io`); this crate knows nothing of the store. `run_with_big_stack`
//! runs an evaluation on a thread with a large stack so deep recursion ends in
//! a clean error rather than a crash.

pub mod builtins;
pub mod compile;
pub mod drv;
pub mod error;
pub mod eval;
pub mod io;
pub mod print;
pub mod value;

pub use error::{ErrorKind, EvalError, EvalResult, Pos};
pub use eval::{parse_search_path, EvalOptions, Evaluator};
pub use io::{DrvOut, DrvSpec, EvalHost, EvalIo, FileType, FixedOutput, NoStore, StdIo};
pub use value::{Attrs, NixString, Value};

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

/// Runs `f` on a thread with a big stack and returns its result.
pub fn run_with_big_stack<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let h = std::thread::Builder::new()
        .name("b8g-eval".into())
        .stack_size(EVAL_STACK_SIZE)
        .spawn(f)?;
    h.join()
        .map_err(|_| std::io::Error::other("evaluation thread panicked"))
}
