//! Progress reporting for a scheduler run: [`BuildLines`], the lines
//! nix-build prints (`building '…drv'...`, and with `-L` the builders' output
//! as `name> line`), and an indicatif implementation for terminals: one line
//! per running job showing its last log line, a total bar, a summary, with
//! the same lines printed above the bars.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{NodeId, Summary};

/// Receives scheduler events. Called from several threads at once.
pub trait Progress: Sync {
    /// The run starts with `total` nodes.
    fn start(&self, _total: usize) {}
    /// A job started.
    fn job_started(&self, _id: NodeId, _label: &str) {}
    /// A job starts building (it was neither done already nor substituted);
    /// `what` is [`super::Job::describe`]'s text (a `.drv` path).
    fn job_building(&self, _id: NodeId, _label: &str, _what: &str) {}
    /// A store path was copied from the binary cache `from` (before the run
    /// starts: substitution is planned ahead of the builds).
    fn path_substituted(&self, _path: &str, _from: &str) {}
    /// A job printed a line.
    fn job_log(&self, _id: NodeId, _line: &str) {}
    /// A job ended; `outcome` is a word such as "built" or "failed", `error`
    /// the failure message if it failed.
    fn job_finished(&self, _id: NodeId, _label: &str, _outcome: &str, _error: Option<&str>) {}
    /// The run ended.
    fn finish(&self, _summary: &Summary) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Where [`BuildLines`] sends each line.
pub type LineSink = Box<dyn Fn(&str) + Send + Sync>;

/// The build output nix-build shows, handed line by line to a sink (the
/// caller prints it): `copying path '…' from 'URL'...` for each path taken
/// from a binary cache (once it is there), `building '/b8g/store/…-hello.drv'...`
/// when a derivation starts building and, with `print_logs` (`-L`,
/// `--print-build-logs`), every line its builder prints, prefixed with the
/// derivation's name as Nix does (`hello> checking for gcc...`). Failures are
/// left to the caller, which shows them with the log's tail.
pub struct BuildLines {
    print_logs: bool,
    /// Whether to print the `building '…'...` lines.
    announce: bool,
    sink: LineSink,
    /// The label of each running job, for the prefixes.
    labels: Mutex<HashMap<NodeId, String>>,
}

impl BuildLines {
    pub fn new(print_logs: bool, sink: LineSink) -> Self {
        BuildLines {
            print_logs,
            announce: true,
            sink,
            labels: Mutex::new(HashMap::new()),
        }
    }

    /// Without the `building '…'...` lines (`-q -L`: the builders' output only).
    pub fn without_announcements(mut self) -> Self {
        self.announce = false;
        self
    }

    fn labels(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, String>> {
        // A panic in another reporting thread leaves the map usable.
        self.labels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for BuildLines {
    fn path_substituted(&self, path: &str, from: &str) {
        if self.announce {
            (self.sink)(&format!("copying path '{path}' from '{from}'..."));
        }
    }

    fn job_building(&self, id: NodeId, label: &str, what: &str) {
        if self.print_logs {
            self.labels().insert(id, label.to_owned());
        }
        if self.announce {
            (self.sink)(&format!("building '{what}'..."));
        }
    }

    fn job_log(&self, id: NodeId, line: &str) {
        if !self.print_logs {
            return;
        }
        let label = self.labels().get(&id).cloned();
        // Lines before the build (waiting for a lock) have no prefix to take.
        if let Some(label) = label {
            (self.sink)(&format!("{label}> {line}"));
        }
    }

    fn job_finished(&self, id: NodeId, _label: &str, _outcome: &str, _error: Option<&str>) {
        self.labels().remove(&id);
    }
}

/// Terminal progress on stderr with indicatif.
pub struct IndicatifProgress {
    multi: MultiProgress,
    total: ProgressBar,
    jobs: Mutex<HashMap<NodeId, ProgressBar>>,
    /// The nix-build lines, printed above the bars.
    lines: Option<BuildLines>,
}

impl Default for IndicatifProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl IndicatifProgress {
    /// Draws on stderr (hidden automatically when stderr is not a terminal).
    pub fn new() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// Draws on the given target (tests use a hidden one).
    pub fn with_target(target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .expect("static template is valid")
                .progress_chars("=> "),
        );
        IndicatifProgress {
            multi,
            total,
            jobs: Mutex::new(HashMap::new()),
            lines: None,
        }
    }

    /// Also prints [`BuildLines`]' lines above the bars.
    pub fn with_build_lines(mut self, print_logs: bool) -> Self {
        let multi = self.multi.clone();
        self.lines = Some(BuildLines::new(
            print_logs,
            // Fails only when the bars are hidden (stderr is no terminal).
            Box::new(move |line| {
                let _ = multi.println(line);
            }),
        ));
        self
    }

    fn job_style() -> ProgressStyle {
        ProgressStyle::with_template("{spinner} {prefix:.bold}: {wide_msg}")
            .expect("static template is valid")
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, ProgressBar>> {
        // A panic in another reporting thread leaves the map usable.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for IndicatifProgress {
    fn start(&self, total: usize) {
        self.total.set_length(total as u64);
        self.total.enable_steady_tick(Duration::from_millis(200));
    }

    fn job_started(&self, id: NodeId, label: &str) {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new_spinner());
        bar.set_style(Self::job_style());
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bars().insert(id, bar);
    }

    fn path_substituted(&self, path: &str, from: &str) {
        if let Some(lines) = &self.lines {
            lines.path_substituted(path, from);
        }
    }

    fn job_building(&self, id: NodeId, label: &str, what: &str) {
        if let Some(lines) = &self.lines {
            lines.job_building(id, label, what);
        }
    }

    fn job_log(&self, id: NodeId, line: &str) {
        if let Some(bar) = self.bars().get(&id) {
            bar.set_message(line.to_owned());
        }
        if let Some(lines) = &self.lines {
            lines.job_log(id, line);
        }
    }

    fn job_finished(&self, id: NodeId, label: &str, outcome: &str, error: Option<&str>) {
        if let Some(lines) = &self.lines {
            lines.job_finished(id, label, outcome, error);
        }
        if let Some(bar) = self.bars().remove(&id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if let Some(e) = error {
            // println keeps the message above the bars; it fails only when hidden.
            let _ = self.multi.println(format!("error: {label} {outcome}: {e}"));
        }
        self.total.inc(1);
    }

    fn finish(&self, summary: &Summary) {
        self.total.finish_with_message(summary.to_string());
    }
}
