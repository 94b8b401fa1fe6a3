//! Independent evaluations on several threads: `nix-instantiate -A a -A b …`
//! and the like. Values cannot cross threads (they are `Rc`-shared), so each
//! thread has an evaluator of its own and evaluates what its jobs need from
//! the start; jobs are taken in order from a shared counter.
//!
//! The results are those of one thread doing the jobs in order: results up to
//! the first job that fails, then that job's error. `builtins.trace` is the one
//! effect whose order or count could differ (a thunk two jobs share is forced
//! once in one evaluator, once per thread here), so a parallel run that traced
//! anything is discarded and the jobs are run again on one thread, printing
//! their traces as they come.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use b8g_eval::{EvalResult, Evaluator};

use super::session::{EvalSession, SessionError};

/// What a run of jobs gave: the results of the jobs before the first that
/// failed (all of them if none did), then that job's error.
pub struct JobsOutcome<T> {
    pub results: Vec<T>,
    pub error: Option<SessionError>,
}

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
/// an evaluated file). With one thread or one job, or when a parallel run
/// traced, everything runs on one evaluator in order. An error making the
/// session is returned as it is.
pub fn run_jobs<T, W, E, S, J>(
    session: S,
    jobs: usize,
    threads: usize,
    job: J,
) -> Result<JobsOutcome<T>, E>
where
    T: Send + 'static,
    W: Default,
    S: Fn() -> Result<EvalSession, E>,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
{
    let job = Arc::new(job);
    let threads = threads.min(jobs);
    if threads > 1 {
        if let Some(outcome) = run_parallel(&session, jobs, threads, &job) {
            return Ok(outcome);
        }
    }
    run_in_order(session()?, jobs, &job)
}

/// One evaluator, jobs in order; stops at the first error.
fn run_in_order<T, W, E, J>(
    session: EvalSession,
    jobs: usize,
    job: &Arc<J>,
) -> Result<JobsOutcome<T>, E>
where
    T: Send + 'static,
    W: Default,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
{
    let done = Arc::new(Mutex::new(Vec::new()));
    let (job, sink) = (Arc::clone(job), Arc::clone(&done));
    let r = session.run(move |ev, cwd| {
        let mut state = W::default();
        for i in 0..jobs {
            let t = job(ev, cwd, &mut state, i)?;
            lock(&sink).push(t);
        }
        Ok(())
    });
    let results = std::mem::take(&mut *lock(&done));
    Ok(JobsOutcome {
        results,
        error: r.err(),
    })
}

/// State the workers share.
struct Shared<T> {
    next: AtomicUsize,
    /// The lowest job index that failed (`usize::MAX`: none yet).
    first_failure: AtomicUsize,
    traced: AtomicBool,
    results: Mutex<Vec<Option<T>>>,
}

/// `None` when the run traced and must be done again in order.
fn run_parallel<T, W, E, S, J>(
    session: &S,
    jobs: usize,
    threads: usize,
    job: &Arc<J>,
) -> Option<JobsOutcome<T>>
where
    T: Send + 'static,
    W: Default,
    S: Fn() -> Result<EvalSession, E>,
    J: Fn(&mut Evaluator, &str, &mut W, usize) -> EvalResult<T> + Send + Sync + 'static,
{
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        first_failure: AtomicUsize::new(usize::MAX),
        traced: AtomicBool::new(false),
        results: Mutex::new((0..jobs).map(|_| None).collect()),
    });
    let mut workers = Vec::new();
    for _ in 0..threads {
        // A session that cannot even be made fails the same way in order.
        let s = session().ok()?;
        let (shared, job) = (Arc::clone(&shared), Arc::clone(job));
        // The job this worker failed on, if any (its error is rendered by the session).
        let failed_at = Arc::new(AtomicUsize::new(usize::MAX));
        let failed = Arc::clone(&failed_at);
        let handle = std::thread::spawn(move || {
            s.run(move |ev, cwd| {
                let traced = Arc::clone(&shared);
                ev.trace_sink = Box::new(move |_| traced.traced.store(true, Ordering::Relaxed));
                let mut state = W::default();
                loop {
                    let i = shared.next.fetch_add(1, Ordering::Relaxed);
                    // Jobs after a failure are not reported, so not run.
                    if i >= jobs || i > shared.first_failure.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    match job(ev, cwd, &mut state, i) {
                        Ok(t) => lock(&shared.results)[i] = Some(t),
                        Err(e) => {
                            failed.store(i, Ordering::Relaxed);
                            shared.first_failure.fetch_min(i, Ordering::Relaxed);
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
                let i = failed_at.load(Ordering::Relaxed);
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
    if shared.traced.load(Ordering::Relaxed) {
        return None;
    }
    let stop = failure.as_ref().map_or(jobs, |(i, _)| *i);
    let mut slots = std::mem::take(&mut *lock(&shared.results));
    let results: Vec<T> = slots.drain(..stop).map_while(|t| t).collect();
    if results.len() < stop {
        // A job before the failure has no result: cannot happen unless a
        // worker died; the ordered run is the safe answer.
        return None;
    }
    Some(JobsOutcome {
        results,
        error: failure.map(|(_, e)| e),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use b8g_eval::Value;

    /// A job: the sum of `i * x` for x below 5 000, or a throw for the listed jobs.
    fn job(
        fail: &'static [usize],
    ) -> impl Fn(&mut Evaluator, &str, &mut (), usize) -> EvalResult<i64> {
        move |ev, cwd, _, i| {
            let e = if fail.contains(&i) {
                format!("throw \"job {i} fails\"")
            } else {
                format!("builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x * {i}) 5000)")
            };
            match ev.eval_str(&e, cwd)? {
                Value::Int(n) => Ok(n),
                _ => unreachable!("the expression is an integer"),
            }
        }
    }

    fn run(threads: usize, fail: &'static [usize]) -> (Vec<i64>, Option<String>) {
        let out = run_jobs(|| Ok::<_, ()>(EvalSession::pure()), 12, threads, job(fail))
            .expect("a pure session is always made");
        (out.results, out.error.map(|e| e.to_string()))
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
    fn a_run_that_traced_is_done_again_in_order() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let out = run_jobs(
            || Ok::<_, ()>(EvalSession::pure()),
            6,
            2,
            move |ev, cwd, _: &mut (), i| {
                counted.fetch_add(1, Ordering::Relaxed);
                match ev.eval_str(&format!("builtins.trace \"job {i}\" {i}"), cwd)? {
                    Value::Int(n) => Ok(n),
                    _ => unreachable!("the expression is an integer"),
                }
            },
        )
        .expect("a pure session is always made");
        assert_eq!(out.results, [0, 1, 2, 3, 4, 5]);
        assert!(out.error.is_none());
        // Six jobs in parallel, then all six again on one evaluator.
        assert_eq!(calls.load(Ordering::Relaxed), 12);
    }
}
