//! Tests of the DAG scheduler: ordering, parallelism limits, failure handling,
//! locking across concurrent runs, substitution and cancellation, with
//! in-process jobs; and a 200-node DAG of real sandboxed builds.

mod sandbox_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use b8g_builder::sandbox::{remove_tree, BindMount, CancelToken, Sandbox, SandboxError};
use b8g_builder::schedule::{
    run, BuildLines, Dag, IndicatifProgress, Job, JobContext, LockError, NoProgress, NodeId,
    Outcome, ScheduleOptions,
};
use sandbox_support::{process_with_marker_exists, Fixture, STORE};

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("node {0} failed on purpose")]
    Planned(NodeId),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// A node of the in-process tests.
struct Node {
    id: NodeId,
    fail: bool,
    /// Sleep this long, or until cancelled.
    work: Duration,
}

/// Records what ran when.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(NodeId, bool)>>, // (node, started?)
    running: AtomicUsize,
    max_running: AtomicUsize,
    lock_dir: Option<PathBuf>,
    built: Option<PathBuf>,
    substitutable: Vec<NodeId>,
}

impl Job for Recorder {
    type Node = Node;
    type Error = TestError;

    fn label(&self, node: &Node) -> String {
        format!("node-{}", node.id)
    }

    fn lock_files(&self, node: &Node) -> Vec<PathBuf> {
        self.lock_dir
            .iter()
            .map(|d| d.join(format!("{}.lock", node.id)))
            .collect()
    }

    fn is_done(&self, node: &Node) -> Result<bool, TestError> {
        Ok(self
            .built
            .as_ref()
            .is_some_and(|d| d.join(node.id.to_string()).exists()))
    }

    fn substitute(&self, node: &Node, _ctx: &JobContext<'_>) -> Result<bool, TestError> {
        Ok(self.substitutable.contains(&node.id))
    }

    fn build(&self, node: &Node, ctx: &JobContext<'_>) -> Result<(), TestError> {
        self.events.lock().expect("lock").push((node.id, true));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        ctx.log_line("working");
        let until = Instant::now() + node.work;
        let mut cancelled = false;
        while Instant::now() < until {
            if ctx.cancel().is_cancelled() {
                cancelled = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.events.lock().expect("lock").push((node.id, false));
        if cancelled {
            return Err(TestError::Cancelled);
        }
        if node.fail {
            return Err(TestError::Planned(node.id));
        }
        if let Some(d) = &self.built {
            std::fs::write(d.join(node.id.to_string()), "").expect("mark built");
        }
        Ok(())
    }

    fn lock_error(&self, _node: &Node, error: LockError) -> TestError {
        error.into()
    }
}

/// A deterministic pseudo-random DAG: each node depends on up to three earlier ones.
fn random_dag(n: usize, work: Duration) -> Dag<Node> {
    let mut dag = Dag::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for id in 0..n {
        let mut deps = Vec::new();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if id > 0 && x % 3 != 0 {
                deps.push((x as usize) % id);
            }
        }
        dag.add(
            Node {
                id,
                fail: false,
                work,
            },
            &deps,
        )
        .expect("dependencies exist");
    }
    dag
}

fn opts(jobs: usize, keep_going: bool) -> ScheduleOptions {
    ScheduleOptions { jobs, keep_going }
}

fn token() -> CancelToken {
    CancelToken::new().expect("eventfd")
}

#[test]
fn dependencies_finish_before_dependents_start_and_jobs_are_limited() {
    let dag = random_dag(40, Duration::from_millis(30));
    let rec = Recorder::default();
    let report = run(&dag, &rec, &opts(3, false), &NoProgress, &token());
    assert!(report.is_success(), "{:?}", report.summary());
    assert_eq!(report.summary().built, 40);
    let events = rec.events.into_inner().expect("lock");
    let pos = |id, started| {
        events
            .iter()
            .position(|&e| e == (id, started))
            .expect("event recorded")
    };
    for (id, _) in dag.nodes() {
        for &d in dag.deps(id) {
            assert!(
                pos(d, false) < pos(id, true),
                "{id} started before {d} ended"
            );
        }
    }
    assert_eq!(rec.max_running.load(Ordering::SeqCst), 3);
}

#[test]
fn one_job_runs_in_insertion_order_every_time() {
    let mut orders = Vec::new();
    for _ in 0..2 {
        let dag = random_dag(25, Duration::ZERO);
        let rec = Recorder::default();
        let report = run(&dag, &rec, &opts(1, false), &NoProgress, &token());
        assert!(report.is_success());
        let starts: Vec<NodeId> = rec
            .events
            .into_inner()
            .expect("lock")
            .into_iter()
            .filter(|e| e.1)
            .map(|e| e.0)
            .collect();
        assert_eq!(rec.max_running.load(Ordering::SeqCst), 1);
        orders.push(starts);
    }
    assert_eq!(orders[0], (0..25).collect::<Vec<_>>());
    assert_eq!(orders[0], orders[1]);
}

fn small_failing_dag() -> Dag<Node> {
    // 0 fails quickly; 1 is long; 2 <- 0; 3 <- 2; 4 <- 1.
    let mut dag = Dag::new();
    let node = |id, fail, ms| Node {
        id,
        fail,
        work: Duration::from_millis(ms),
    };
    dag.add(node(0, true, 20), &[]).expect("add");
    dag.add(node(1, false, 400), &[]).expect("add");
    dag.add(node(2, false, 1), &[0]).expect("add");
    dag.add(node(3, false, 1), &[2]).expect("add");
    dag.add(node(4, false, 1), &[1]).expect("add");
    dag
}

#[test]
fn first_failure_cancels_the_run_without_keep_going() {
    let dag = small_failing_dag();
    let rec = Recorder::default();
    let t = Instant::now();
    let report = run(&dag, &rec, &opts(2, false), &NoProgress, &token());
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "the long job was not cancelled"
    );
    let o = &report.outcomes;
    assert!(
        matches!(o[0], Outcome::Failed(TestError::Planned(0))),
        "{o:?}"
    );
    assert!(matches!(o[1], Outcome::Cancelled), "{o:?}");
    assert!(matches!(o[2], Outcome::DependencyFailed(0)), "{o:?}");
    assert!(matches!(o[3], Outcome::DependencyFailed(0)), "{o:?}");
    assert!(matches!(o[4], Outcome::Cancelled), "{o:?}");
    let s = report.summary();
    assert_eq!((s.failed, s.dependency_failed, s.cancelled), (1, 2, 2));
}

#[test]
fn keep_going_builds_everything_that_does_not_depend_on_a_failure() {
    let dag = small_failing_dag();
    let rec = Recorder::default();
    let report = run(&dag, &rec, &opts(2, true), &NoProgress, &token());
    let o = &report.outcomes;
    assert!(matches!(o[0], Outcome::Failed(_)), "{o:?}");
    assert!(matches!(o[1], Outcome::Built), "{o:?}");
    assert!(matches!(o[2], Outcome::DependencyFailed(0)), "{o:?}");
    assert!(matches!(o[3], Outcome::DependencyFailed(0)), "{o:?}");
    assert!(matches!(o[4], Outcome::Built), "{o:?}");
    assert_eq!(report.failures().map(|f| f.0).collect::<Vec<_>>(), [0]);
    assert_eq!(
        report.summary().to_string(),
        "2 built, 0 substituted, 0 already present, 1 failed, 2 skipped (dependency failed)"
    );
}

#[test]
fn concurrent_runs_never_build_the_same_node_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = dir.path().join("built");
    std::fs::create_dir(&built).expect("mkdir");
    let make = || Recorder {
        lock_dir: Some(dir.path().to_owned()),
        built: Some(built.clone()),
        ..Recorder::default()
    };
    let (a, b) = (make(), make());
    let dag = random_dag(30, Duration::from_millis(15));
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(&dag, &a, &opts(2, false), &NoProgress, &token()));
        let hb = s.spawn(|| run(&dag, &b, &opts(2, false), &NoProgress, &token()));
        (ha.join().expect("run a"), hb.join().expect("run b"))
    });
    assert!(ra.is_success() && rb.is_success());
    let builds = |r: &Recorder| -> Vec<NodeId> {
        r.events
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e.1)
            .map(|e| e.0)
            .collect()
    };
    let (ba, bb) = (builds(&a), builds(&b));
    for id in 0..30 {
        let n = ba.iter().filter(|&&x| x == id).count() + bb.iter().filter(|&&x| x == id).count();
        assert_eq!(n, 1, "node {id} was built {n} times");
    }
    assert_eq!(ra.summary().built + rb.summary().built, 30);
    assert_eq!(ra.summary().already_done + rb.summary().already_done, 30);
    // Lock files of finished nodes are cleaned up.
    let leftover: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(leftover.is_empty(), "{leftover:?}");
}

#[test]
fn substitution_hook_replaces_the_build() {
    let dag = random_dag(5, Duration::ZERO);
    let rec = Recorder {
        substitutable: vec![1, 3],
        ..Recorder::default()
    };
    let report = run(&dag, &rec, &opts(2, false), &NoProgress, &token());
    assert!(matches!(report.outcomes[1], Outcome::Substituted));
    assert!(matches!(report.outcomes[3], Outcome::Substituted));
    assert_eq!(report.summary().built, 3);
}

/// nix-build's output: `building '…'...` for each node actually built (not
/// for substituted ones) and, with `-L`, each log line as `label> line`.
#[test]
fn build_lines_name_each_build_and_prefix_its_log_with_print_logs() {
    let dag = random_dag(5, Duration::ZERO);
    let rec = Recorder {
        substitutable: vec![1, 3],
        ..Recorder::default()
    };
    let lines = |print_logs| {
        let got = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = got.clone();
        let progress = BuildLines::new(
            print_logs,
            Box::new(move |l| sink.lock().expect("lock").push(l.to_owned())),
        );
        run(&dag, &rec, &opts(1, false), &progress, &token());
        let got = got.lock().expect("lock").clone();
        got
    };
    // One job at a time: in insertion order. `describe` defaults to the label.
    assert_eq!(
        lines(false),
        [
            "building 'node-0'...",
            "building 'node-2'...",
            "building 'node-4'..."
        ]
    );
    assert_eq!(
        lines(true),
        [
            "building 'node-0'...",
            "node-0> working",
            "building 'node-2'...",
            "node-2> working",
            "building 'node-4'...",
            "node-4> working"
        ]
    );
}

#[test]
fn external_cancellation_stops_the_run() {
    // Jobs long enough that none can finish before the cancel, however loaded the machine.
    let dag = random_dag(20, Duration::from_secs(60));
    let rec = Recorder::default();
    let cancel = token();
    let (report, since_cancel) = std::thread::scope(|s| {
        let h = s.spawn(|| run(&dag, &rec, &opts(2, true), &NoProgress, &cancel));
        let deadline = Instant::now() + Duration::from_secs(60);
        while rec.running.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = Instant::now();
        cancel.cancel();
        (h.join().expect("run"), t.elapsed())
    });
    assert!(
        since_cancel < Duration::from_secs(20),
        "a 60 s job was not interrupted: {since_cancel:?}"
    );
    assert!(report.summary().cancelled >= 18, "{:?}", report.summary());
    assert_eq!(report.summary().failed, 0);
}

#[test]
fn dependencies_must_exist() {
    let mut dag = Dag::new();
    dag.add(1, &[]).expect("first");
    let e = dag.add(2, &[1]).expect_err("self-dependency is refused");
    assert_eq!(
        e.to_string(),
        "node 1 depends on unknown node 1 (dependencies must be added first)"
    );
}

// --- Real sandboxed builds --------------------------------------------------

/// Node i computes 1 + the sum of its dependencies' outputs, in a sandbox that
/// sees only busybox and those outputs.
struct SandboxJob<'a> {
    fx: &'a Fixture,
    sandbox: Sandbox,
    deps: Vec<Vec<NodeId>>,
    script: String,
}

fn out_name(i: NodeId) -> String {
    format!("{:032}-n{i}", i)
}

impl Job for SandboxJob<'_> {
    type Node = NodeId;
    type Error = SandboxError;

    fn label(&self, &i: &NodeId) -> String {
        format!("n{i}")
    }

    fn lock_files(&self, &i: &NodeId) -> Vec<PathBuf> {
        vec![self.fx.phys_store.join(format!("{}.lock", out_name(i)))]
    }

    fn is_done(&self, &i: &NodeId) -> Result<bool, SandboxError> {
        Ok(self.fx.phys_store.join(out_name(i)).exists())
    }

    fn build(&self, &i: &NodeId, ctx: &JobContext<'_>) -> Result<(), SandboxError> {
        let mut spec = self.fx.sh(&self.script);
        let mut deps = String::new();
        for &d in &self.deps[i] {
            let name = out_name(d);
            spec.inputs.push(BindMount::new(
                self.fx.phys_store.join(&name),
                Path::new(STORE).join(&name),
            ));
            deps.push_str(&format!("{STORE}/{name} "));
        }
        spec.env.insert("deps".into(), deps);
        spec.outputs = BTreeMap::from([("out".into(), Path::new(STORE).join(out_name(i)))]);
        let scratch = self.fx.scratch();
        let mut log = b8g_builder::sandbox::FileLog::new(None, |l: &str| ctx.log_line(l));
        let r = self.sandbox.run(&spec, &scratch, &mut log, ctx.cancel());
        let r = r.and_then(|r| {
            std::fs::rename(&r.outputs["out"], self.fx.phys_store.join(out_name(i))).map_err(
                |source| SandboxError::Prepare {
                    what: "move output",
                    path: r.outputs["out"].clone(),
                    source,
                },
            )
        });
        remove_tree(&scratch).expect("remove scratch");
        r
    }

    fn lock_error(&self, &i: &NodeId, error: LockError) -> SandboxError {
        SandboxError::InvalidSpec {
            name: format!("n{i}"),
            reason: error.to_string(),
        }
    }
}

#[test]
fn two_hundred_sandboxed_builds_with_two_jobs() {
    let fx = Fixture::new();
    let n: usize = 200;
    let mut dag = Dag::new();
    let mut deps = Vec::new();
    for i in 0..n {
        let d: Vec<NodeId> = [i.checked_sub(1), (i >= 2).then_some(i / 2)]
            .into_iter()
            .flatten()
            .collect();
        dag.add(i, &d).expect("add");
        deps.push(d);
    }
    let job = SandboxJob {
        fx: &fx,
        sandbox: fx.sandbox(|c| c.build_dir_on_tmpfs = true),
        deps: deps.clone(),
        // Values grow quickly; keep them small with a modulus.
        script: "s=1; for d in $deps; do read v < $d; s=$(( (s + v) % 1000003 )); done; \
                 echo computed $s; echo $s > $out"
            .into(),
    };
    let t = Instant::now();
    let progress = IndicatifProgress::with_target(indicatif::ProgressDrawTarget::hidden());
    let report = run(&dag, &job, &opts(2, false), &progress, &token());
    let elapsed = t.elapsed();
    if let Some((i, e)) = report.failures().next() {
        panic!("node {i} failed: {e}");
    }
    assert_eq!(report.summary().built, n);
    let mut want = vec![0u64; n];
    for i in 0..n {
        want[i] = deps[i].iter().fold(1, |s, &d| (s + want[d]) % 1_000_003);
        let got = std::fs::read_to_string(fx.phys_store.join(out_name(i))).expect("output");
        assert_eq!(got.trim(), want[i].to_string(), "node {i}");
    }
    eprintln!(
        "200 sandboxed builds with -j2: {:.2} s ({:.1} ms per build)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 / n as f64
    );
}

#[test]
fn cancelling_a_run_kills_every_sandboxed_process() {
    let fx = Fixture::new();
    let mut dag = Dag::new();
    for i in 0..6 {
        dag.add(i, &[]).expect("add");
    }
    let job = SandboxJob {
        fx: &fx,
        sandbox: fx.sandbox(|_| {}),
        deps: vec![Vec::new(); 6],
        script: "busybox setsid busybox sleep 98764 & busybox sleep 98764".into(),
    };
    let cancel = token();
    let (report, since_cancel) = std::thread::scope(|s| {
        let h = s.spawn(|| run(&dag, &job, &opts(3, false), &NoProgress, &cancel));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !process_with_marker_exists("98764") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            process_with_marker_exists("98764"),
            "the builds did not start"
        );
        let t = Instant::now();
        cancel.cancel();
        (h.join().expect("run"), t.elapsed())
    });
    // The builds sleep for a day: anything well under that proves they were killed.
    assert!(since_cancel < Duration::from_secs(20), "{since_cancel:?}");
    assert_eq!(report.summary().cancelled, 6, "{:?}", report.summary());
    assert!(
        !process_with_marker_exists("98764"),
        "a build process survived"
    );
}
