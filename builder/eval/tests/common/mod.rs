//! Helpers shared by the evaluator's integration tests.

use b8g_eval::value::cycles;
use b8g_eval::{value_to_text, EvalOptions, Evaluator, NoStore, OutputMode, StdIo};

/// An ordinary thread's stack, far smaller than the evaluation stack
/// (`b8g_eval::EVAL_STACK_SIZE`) `run_with_big_stack` gives.
pub const SMALL_STACK: usize = 8 << 20;

/// Evaluates `src` strictly on a thread of its own with a stack of
/// `stack` bytes, after `set_up` ran on that thread, dropping everything it
/// made before the thread ends; returns what it printed and the thread's
/// cycle-walk figures.
pub fn eval_on_thread(
    src: &str,
    stack: usize,
    set_up: impl FnOnce() + Send + 'static,
) -> (String, cycles::Stats) {
    let src = src.to_string();
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let mut ev = Evaluator::new(
                Box::new(StdIo),
                Box::new(NoStore::default()),
                EvalOptions::default(),
            );
            set_up();
            let v = ev.eval_str(&src, "/").expect("evaluates");
            let text = value_to_text(&mut ev, v, OutputMode::Strict).expect("prints");
            drop(ev);
            (text, cycles::stats())
        })
        .expect("thread starts")
        .join()
        .expect("evaluation thread ends without a panic or stack overflow")
}
