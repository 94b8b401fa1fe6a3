//! Independent evaluations on several threads: `nix-instantiate -A a -A b …`
//! and the like. Values cannot cross threads (they are `Rc`-shared), so each
//! thread has an evaluator of its own and evaluates what its jobs need from
//! the start; jobs are taken in order from a shared counter.
//!
//! What is reported is what one thread doing the jobs in order reports: each
//! result in order, handed to `emit` (on one thread, as soon as it is made, so
//! it interleaves with traces as Nix's output does), up to the first job that
//! fails, then that job's error. To keep it so:
//! - a job that started after a failing one is interrupted at its next call
//!   (a later job may still exhaust memory before that, which one thread would
//!   never have run);
//! - a thunk two jobs share is forced once per thread, so a parallel run during
//!   which anything was traced or warned about is discarded and the jobs run
//!   again on one thread;
//! - the caller runs in parallel only output that does not show what was
//!   forced before it (`--strict`, JSON, derivations), since one evaluator's
//!   earlier jobs force values a fresh one has not.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use b8g_eval::{EvalResult, Evaluator};

use super::session::{EvalSession, SessionError};

/// How many threads to use when the caller does not say: `B8G_EVAL_THREADS`
/// if set (1 turns parallel evaluation off), else the machine's cores.
pub fn default_threads() -> usize {
    std::env::var("B8G_EVAL_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Runs jobs `0..jobs` with `job`, on up to `threads` threads, each with its own
/// session from `session` and its own state `W` (made in the evaluation
/// thread, so it may hold values: what jobs of one evaluator share, such as
/// an evaluated file). Results go to `emit` in order; `emit` may stop the run
/// (`Break`). Returns the error of the first job that failed, if one did; an
/// error making a session is returned as it is.
pub fn run_jobs<T, W, E, S, J, O>(
    session: S,
    jobs: usize,
    threads: usize,
    job: J,
    emit: O,
) -> Result<Option<SessionError>, E>
where
    T: Send + 'static,
    W: Default,
    S: Fn() -> Result<EvalSession, E>,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
    O: FnMut(T) -> ControlFlow<()> + Send + 'static,
{
    let job = Arc::new(job);
    let emit = Arc::new(Mutex::new(emit));
    let threads = threads.min(jobs);
    if threads > 1 {
        if let Some(outcome) = run_parallel(&session, jobs, threads, &job) {
            let (results, error) = outcome;
            let mut emit = lock(&emit);
            for t in results {
                if emit(t).is_break() {
                    return Ok(None);
                }
            }
            return Ok(error);
        }
    }
    run_in_order(session()?, jobs, &job, &emit)
}

/// One evaluator, jobs in order, each result emitted as it is made; stops at
/// the first error.
fn run_in_order<T, W, E, J, O>(
    session: EvalSession,
    jobs: usize,
    job: &Arc<J>,
    emit: &Arc<Mutex<O>>,
) -> Result<Option<SessionError>, E>
where
    T: Send + 'static,
    W: Default,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
    O: FnMut(T) -> ControlFlow<()> + Send + 'static,
{
    let (job, emit) = (Arc::clone(job), Arc::clone(emit));
    let r = session.run(move |ev, cwd| {
        let mut state = W::default();
        for i in 0..jobs {
            let t = job(ev, cwd, &mut state, i)?;
            if lock(&emit)(t).is_break() {
                break;
            }
        }
        Ok(())
    });
    Ok(r.err())
}

/// State the workers share.
struct Shared<T> {
    next: AtomicUsize,
    /// The lowest job index that failed (`usize::MAX`: none yet).
    first_failure: AtomicUsize,
    /// Something was traced or warned about: the run is done again in order.
    noisy: AtomicBool,
    results: Mutex<Vec<Option<T>>>,
    /// Per worker: the job it runs, and the flag that interrupts it.
    running: Vec<(AtomicUsize, Arc<AtomicBool>)>,
}

impl<T> Shared<T> {
    /// Job `i` failed: later jobs are not wanted, so their workers stop.
    fn failed(&self, i: usize) {
        self.first_failure.fetch_min(i, Ordering::SeqCst);
        for (job, stop) in &self.running {
            if job.load(Ordering::SeqCst) > i {
                stop.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The results before the first failure and its error; `None` when the run
/// must be done again in order (it was noisy, or a worker could not run).
type Parallel<T> = Option<(Vec<T>, Option<SessionError>)>;

fn run_parallel<T, W, E, S, J>(
    session: &S,
    jobs: usize,
    threads: usize,
    job: &Arc<J>,
) -> Parallel<T>
where
    T: Send + 'static,
    W: Default,
    S: Fn() -> Result<EvalSession, E>,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
{
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        first_failure: AtomicUsize::new(usize::MAX),
        noisy: AtomicBool::new(false),
        results: Mutex::new((0..jobs).map(|_| None).collect()),
        running: (0..threads)
            .map(|_| {
                (
                    AtomicUsize::new(usize::MAX),
                    Arc::new(AtomicBool::new(false)),
                )
            })
            .collect(),
    });
    // All sessions first: a session that cannot be made fails the same way in
    // order, and no worker may be left running when that is decided.
    let sessions: Vec<EvalSession> = (0..threads)
        .map(|_| session().ok())
        .collect::<Option<_>>()?;
    let mut workers = Vec::new();
    for (w, s) in sessions.into_iter().enumerate() {
        let (shared, job) = (Arc::clone(&shared), Arc::clone(job));
        // The job this worker failed on, if any (its error is rendered by the session).
        let failed_at = Arc::new(AtomicUsize::new(usize::MAX));
        let failed = Arc::clone(&failed_at);
        let handle = std::thread::spawn(move || {
            s.run(move |ev, cwd| {
                let (noisy, noisier) = (Arc::clone(&shared), Arc::clone(&shared));
                ev.trace_sink = Box::new(move |_| noisy.noisy.store(true, Ordering::Relaxed));
                ev.warning_sink = Box::new(move |_| noisier.noisy.store(true, Ordering::Relaxed));
                let (current, stop) = &shared.running[w];
                ev.interrupt = Some(Arc::clone(stop));
                let mut state = W::default();
                loop {
                    let i = shared.next.fetch_add(1, Ordering::SeqCst);
                    current.store(i, Ordering::SeqCst);
                    // Jobs after a failure are not reported, so not run.
                    if i >= jobs || i > shared.first_failure.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    match job(ev, cwd, &mut state, i) {
                        Ok(t) => lock(&shared.results)[i] = Some(t),
                        Err(e) => {
                            failed.store(i, Ordering::SeqCst);
                            shared.failed(i);
                            return Err(e);
                        }
                    }
                }
            })
        });
        workers.push((handle, failed_at));
    }
    let mut failure: Option<(usize, SessionError)> = None;
    for (w, failed_at) in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let i = failed_at.load(Ordering::SeqCst);
                if i == usize::MAX {
                    // Not a job's error (the thread could not start): in order instead.
                    return None;
                }
                if failure.as_ref().is_none_or(|(j, _)| i < *j) {
                    failure = Some((i, e));
                }
            }
            Err(_) => return None,
        }
    }
    if shared.noisy.load(Ordering::SeqCst) {
        return None;
    }
    if let Some((_, SessionError::Eval { kind, .. })) = &failure {
        if *kind == b8g_eval::ErrorKind::Interrupted {
            // Only jobs after a failure are interrupted, so the first failure is never one.
            return None;
        }
    }
    let stop = failure.as_ref().map_or(jobs, |(i, _)| *i);
    let mut slots = std::mem::take(&mut *lock(&shared.results));
    let results: Vec<T> = slots.drain(..stop).map_while(|t| t).collect();
    if results.len() < stop {
        // A job before the failure has no result: cannot happen unless a
        // worker died; the ordered run is the safe answer.
        return None;
    }
    Some((results, failure.map(|(_, e)| e)))
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_eval::Value;

    type Job = Box<dyn Fn(&mut Evaluator, &str, &mut (), usize) -> EvalResult<i64> + Send + Sync>;

    /// A job: the sum of `i * x` for x below 5 000, or a throw for the listed jobs.
    fn job(fail: &'static [usize]) -> Job {
        Box::new(move |ev, cwd, _, i| {
            let e = if fail.contains(&i) {
                format!("throw \"job {i} fails\"")
            } else {
                format!("builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x * {i}) 5000)")
            };
            match ev.eval_str(&e, cwd)? {
                Value::Int(n) => Ok(n),
                _ => unreachable!("the expression is an integer"),
            }
        })
    }

    /// The results emitted and the error, for `jobs` jobs on `threads` threads.
    fn run_with(threads: usize, jobs: usize, job: Job) -> (Vec<i64>, Option<String>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        let err = run_jobs(
            || Ok::<_, ()>(EvalSession::pure()),
            jobs,
            threads,
            job,
            move |t| {
                lock(&sink).push(t);
                ControlFlow::Continue(())
            },
        )
        .expect("a pure session is always made");
        let got = std::mem::take(&mut *lock(&got));
        (got, err.map(|e| e.to_string()))
    }

    fn run(threads: usize, fail: &'static [usize]) -> (Vec<i64>, Option<String>) {
        run_with(threads, 12, job(fail))
    }

    #[test]
    fn results_are_those_of_one_thread_in_order() {
        let (one, err) = run(1, &[]);
        assert_eq!(err, None);
        assert_eq!(one.len(), 12);
        assert_eq!(one[3], 3 * (4999 * 5000 / 2));
        for threads in [2, 3, 8] {
            assert_eq!(run(threads, &[]), (one.clone(), None), "{threads} threads");
        }
    }

    #[test]
    fn the_first_failure_in_order_is_reported_after_the_results_before_it() {
        let (one, err) = run(1, &[5, 9]);
        assert_eq!(one.len(), 5);
        assert!(
            err.as_deref().is_some_and(|e| e.contains("job 5 fails")),
            "{err:?}"
        );
        for threads in [2, 4] {
            assert_eq!(
                run(threads, &[5, 9]),
                (one.clone(), err.clone()),
                "{threads} threads"
            );
            // A later job failing first on another thread changes nothing.
            let (r, e) = run(threads, &[0, 11]);
            assert!(r.is_empty());
            assert!(e.is_some_and(|e| e.contains("job 0 fails")));
        }
    }

    #[test]
    fn a_job_after_a_failure_is_interrupted() {
        // Job 1 alone would run for hours (a thousand rounds of about 20 s in a
        // debug build); job 0 fails after about a second, when job 1 has long
        // started on the other thread. The limit below is that far from both, so
        // neither a loaded machine nor a fast one decides the outcome.
        let job: Job = Box::new(|ev, cwd, _, i| {
            let e = if i == 0 {
                "builtins.seq (builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 3000000)) \
                 (throw \"first\")"
                    .to_string()
            } else {
                "let f = n: if n == 0 then 0 else 1 + f (n - 1); \
                     inner = builtins.genList (x: x) 100000; in \
                 builtins.foldl' (a: _: a + builtins.foldl' (b: _: b + f 1000) 0 inner) 0 \
                   (builtins.genList (x: x) 1000)"
                    .to_string()
            };
            match ev.eval_str(&e, cwd)? {
                Value::Int(n) => Ok(n),
                _ => unreachable!("the expression is an integer"),
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run_with(2, 2, job));
        });
        let (r, e) = rx
            .recv_timeout(std::time::Duration::from_secs(600))
            .expect("the second job was not interrupted");
        assert!(r.is_empty());
        assert!(e.is_some_and(|e| e.contains("first")));
    }

    #[test]
    fn a_run_that_traced_is_done_again_in_order() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let job: Job = Box::new(move |ev, cwd, _, i| {
            counted.fetch_add(1, Ordering::Relaxed);
            match ev.eval_str(&format!("builtins.trace \"job {i}\" {i}"), cwd)? {
                Value::Int(n) => Ok(n),
                _ => unreachable!("the expression is an integer"),
            }
        });
        let (r, e) = run_with(2, 6, job);
        assert_eq!(r, [0, 1, 2, 3, 4, 5]);
        assert!(e.is_none());
        // Six jobs in parallel, then all six again on one evaluator.
        assert_eq!(calls.load(Ordering::Relaxed), 12);
    }
}
