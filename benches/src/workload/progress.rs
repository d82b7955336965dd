//! The spinner on stderr while a run goes: elapsed time, transactions
//! committed, and the current rate. Hidden when stderr is not a terminal or
//! when not asked for, so logs and `--json` output stay clean.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

/// How often the message (count and rate) is refreshed.
const REFRESH: Duration = Duration::from_millis(500);

/// A spinner, or nothing.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner prefixed with `name` if `show` and stderr is a terminal;
    /// otherwise a hidden one that draws nothing.
    pub(crate) fn new(show: bool, name: &str) -> Progress {
        if !show || !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::new_spinner();
        let style = ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar }
    }

    /// Shows `message` (what is being done before the run).
    pub(crate) fn message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Restarts the elapsed time and refreshes the message from `committed`
    /// until the returned task is aborted.
    pub(crate) fn follow(&self, committed: Arc<AtomicU64>) -> JoinHandle<()> {
        self.bar.reset_elapsed();
        let bar = self.bar.clone();
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(REFRESH).await;
                let now = (Instant::now(), committed.load(Ordering::Relaxed));
                let rate = (now.1 - last.1) as f64 / (now.0 - last.0).as_secs_f64();
                bar.set_message(format!("{} committed, {rate:.0} txn/s", now.1));
                last = now;
            }
        })
    }

    /// Removes the spinner.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
