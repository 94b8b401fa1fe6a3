//! One way to set up an evaluation: [`EvalSession`] chooses where store
//! operations go (the local store, a dry run that computes paths and writes
//! nothing, or no store at all), the search path and options, and runs the
//! evaluation on a thread with a big stack.
//!
//! Evaluation errors carry source positions that only the evaluating thread
//! can resolve, so they are rendered there, as Nix prints them, and come back
//! as [`SessionError::Eval`] with their kind.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use b8g_eval::{
    run_with_big_stack, ErrorKind, EvalError, EvalHost, EvalIo, EvalOptions, EvalResult, Evaluator,
    NoStore, StdIo,
};
use b8g_store::format::store_path::StoreDir;
use b8g_store::local::LocalStore;
use thiserror::Error;

use super::store_io::StoreIo;
use super::{hash_builtins, store_builtins, StoreHost};

/// Where an evaluation's store operations go.
enum Target {
    /// Sources, `toFile` and `.drv` files are written to this store.
    Store(Box<LocalStore>),
    /// Paths are computed for this store directory; nothing is written.
    DryRun(StoreDir),
    /// Every store operation fails (pure evaluation, like `dummy://`).
    NoStore,
}

/// An evaluation to run (see the module doc).
pub struct EvalSession {
    target: Target,
    options: EvalOptions,
    base_dir: String,
    throw_without_trace: bool,
    hide_trace: bool,
    show_trace: bool,
    interrupt: Option<Arc<AtomicBool>>,
    messages: Option<MessageSink>,
}

/// Where an evaluation's trace and warning lines go instead of stderr: each
/// whole line as it would have been printed (`trace: …`, `warning: …`).
pub type MessageSink = Arc<dyn Fn(String) + Send + Sync>;

/// Why an evaluation did not give a result.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error("cannot start the evaluation thread: {0}")]
    Thread(#[source] std::io::Error),
    /// `message` is rendered as Nix renders it (positions, source line, trace).
    #[error("{message}")]
    Eval { kind: ErrorKind, message: String },
}

impl EvalSession {
    /// Writes into `store`.
    pub fn writing(store: LocalStore) -> EvalSession {
        EvalSession::with(Target::Store(Box::new(store)))
    }

    /// Computes the paths `store_dir` would give and writes nothing, as Nix's
    /// read-only evaluation does.
    pub fn dry_run(store_dir: StoreDir) -> EvalSession {
        EvalSession::with(Target::DryRun(store_dir))
    }

    /// No store: store operations fail with a clear message.
    pub fn pure() -> EvalSession {
        EvalSession::with(Target::NoStore)
    }

    fn with(target: Target) -> EvalSession {
        EvalSession {
            target,
            options: EvalOptions::default(),
            base_dir: ".".into(),
            throw_without_trace: false,
            hide_trace: false,
            show_trace: false,
            interrupt: None,
            messages: None,
        }
    }

    /// Stops the evaluation at its next call once `flag` is set (the error
    /// is `ErrorKind::Interrupted`).
    pub fn interrupt(mut self, flag: Arc<AtomicBool>) -> EvalSession {
        self.interrupt = Some(flag);
        self
    }

    /// Sends trace and warning lines to `sink` instead of printing them.
    pub fn messages(mut self, sink: MessageSink) -> EvalSession {
        self.messages = Some(sink);
        self
    }

    /// `-I`/`NIX_PATH` entries, in order.
    pub fn search_path(mut self, entries: Vec<(String, String)>) -> EvalSession {
        self.options.search_path = entries;
        self
    }

    /// All evaluator options at once (replaces an earlier search path).
    pub fn options(mut self, options: EvalOptions) -> EvalSession {
        self.options = options;
        self
    }

    /// The directory relative paths in expressions given as text resolve against.
    pub fn base_dir(mut self, dir: &Path) -> EvalSession {
        self.base_dir = dir.to_string_lossy().into_owned();
        self
    }

    /// A `throw` is reported by its message alone (the trace through the
    /// module system buries it) and other errors as [`EvalSession::hide_trace`]
    /// reports them. For system configurations, whose assertions throw.
    pub fn throws_without_trace(mut self) -> EvalSession {
        self.throw_without_trace = true;
        self
    }

    /// Errors are reported as Nix reports them without `--show-trace`: the
    /// message and its position, and a hint when there is a trace to show.
    pub fn hide_trace(mut self) -> EvalSession {
        self.hide_trace = true;
        self
    }

    /// Nix's `--show-trace`: errors with their whole trace, whatever else was chosen.
    pub fn show_trace(mut self, show: bool) -> EvalSession {
        self.show_trace = show;
        self
    }

    /// Runs `f` with a fresh evaluator; `f` gets the base directory too.
    pub fn run<T: Send + 'static>(
        self,
        f: impl FnOnce(&mut Evaluator, &str) -> EvalResult<T> + Send + 'static,
    ) -> Result<T, SessionError> {
        let EvalSession {
            target,
            options,
            base_dir,
            throw_without_trace,
            hide_trace,
            show_trace,
            interrupt,
            messages,
        } = self;
        run_with_big_stack(move || {
            let mut io: Box<dyn EvalIo> = Box::new(StdIo);
            let (host, builtins): (Box<dyn EvalHost>, _) = match target {
                Target::Store(store) => {
                    io = Box::new(StoreIo::new(
                        store.store_dir().as_str(),
                        store.real_store_dir(),
                    ));
                    (
                        Box::new(StoreHost::new(store.store_dir().clone(), store)),
                        store_builtins(),
                    )
                }
                Target::DryRun(dir) => (Box::new(StoreHost::dry_run(dir)), store_builtins()),
                Target::NoStore => (Box::new(NoStore::default()), hash_builtins()),
            };
            // Created here: its stack budget is measured from this thread.
            let mut ev = Evaluator::with_builtins(io, host, options, builtins);
            ev.interrupt = interrupt;
            if let Some(sink) = messages {
                let warnings = Arc::clone(&sink);
                ev.trace_sink = Box::new(move |s| sink(b8g_eval::trace_line(s)));
                ev.warning_sink = Box::new(move |m| warnings(b8g_eval::warning_line(m)));
            }
            f(&mut ev, &base_dir).map_err(|e| SessionError::Eval {
                kind: e.kind.clone(),
                message: render(&e, show_trace, throw_without_trace, hide_trace),
            })
        })
        .map_err(SessionError::Thread)?
    }

    /// Evaluates `expr` and returns the `.drv` paths of the derivations it
    /// gives (as `nix-instantiate` does).
    pub fn instantiate_expr(self, expr: String) -> Result<Vec<String>, SessionError> {
        self.run(move |ev, dir| {
            let v = ev.eval_str(&expr, dir)?;
            b8g_eval::derivation_paths(ev, v)
        })
    }
}

/// The hint Nix prints under an error whose trace it does not show.
const TRACE_HINT: &str = "(use '--show-trace' to show detailed location information)";

fn render(e: &EvalError, show_trace: bool, throw_without_trace: bool, hide_trace: bool) -> String {
    if show_trace {
        return e.to_string();
    }
    if throw_without_trace && e.kind == ErrorKind::Throw {
        // A throw's head is its message alone (it has no position).
        return if e.has_trace_to_show() {
            format!("{}\n{TRACE_HINT}", e.head())
        } else {
            e.head()
        };
    }
    if !(hide_trace || throw_without_trace) {
        return e.to_string();
    }
    if !e.has_trace_to_show() {
        e.head()
    } else {
        format!("{}\n{TRACE_HINT}", e.head())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_sessions_evaluate_and_refuse_the_store() {
        let n = EvalSession::pure()
            .run(|ev, dir| {
                let v = ev.eval_str("1 + 2", dir)?;
                match ev.force(v)? {
                    b8g_eval::Value::Int(i) => Ok(i),
                    _ => Ok(-1),
                }
            })
            .expect("evaluates");
        assert_eq!(n, 3);
        let e = EvalSession::pure()
            .instantiate_expr(
                "derivation { name = \"x\"; system = \"s\"; builder = \"b\"; }".into(),
            )
            .expect_err("no store");
        assert!(e.to_string().contains("no store is available"), "{e}");
    }

    #[test]
    fn dry_runs_give_nix_paths_and_throws_keep_their_kind() {
        let dir = StoreDir::new("/nix/store").expect("store dir");
        let drvs = EvalSession::dry_run(dir.clone())
            .instantiate_expr(
                "derivation { name = \"x\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; }"
                    .into(),
            )
            .expect("dry run");
        assert_eq!(drvs.len(), 1);
        assert!(drvs[0].starts_with("/nix/store/") && drvs[0].ends_with("-x.drv"));
        match EvalSession::dry_run(dir)
            .throws_without_trace()
            .instantiate_expr("throw \"broken option\"".into())
        {
            Err(SessionError::Eval { kind, message }) => {
                assert_eq!(kind, ErrorKind::Throw);
                assert!(message.starts_with("error: broken option"), "{message}");
            }
            other => panic!("expected a throw, got {other:?}"),
        }
    }

    #[test]
    fn traces_are_shown_only_when_asked_for() {
        let expr = "let f = x: x + \"a\"; s = { a = f 1; }; in s.a";
        let message = |show: bool| match EvalSession::pure()
            .throws_without_trace()
            .show_trace(show)
            .instantiate_expr(expr.into())
        {
            Err(SessionError::Eval { message, .. }) => message,
            other => panic!("expected an evaluation error, got {other:?}"),
        };
        let hidden = message(false);
        assert!(hidden.ends_with(TRACE_HINT), "{hidden}");
        assert!(!hidden.contains("while evaluating 'f'"), "{hidden}");
        let shown = message(true);
        assert!(shown.contains("while evaluating 'f'"), "{shown}");
        assert!(shown.contains("from call site"), "{shown}");
        assert!(!shown.contains(TRACE_HINT), "{shown}");
    }
}
