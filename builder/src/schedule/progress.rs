//! Progress reporting for a scheduler run, and an indicatif implementation:
//! one line per running job showing its last log line, a total bar, a summary.

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

/// Terminal progress on stderr with indicatif.
pub struct IndicatifProgress {
    multi: MultiProgress,
    total: ProgressBar,
    jobs: Mutex<HashMap<NodeId, ProgressBar>>,
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
        }
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

    fn job_log(&self, id: NodeId, line: &str) {
        if let Some(bar) = self.bars().get(&id) {
            bar.set_message(line.to_owned());
        }
    }

    fn job_finished(&self, id: NodeId, label: &str, outcome: &str, error: Option<&str>) {
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
