//! Why a run could not produce a report. Failures of single transactions are
//! not errors of the run: the report counts them.

use super::options::WorkloadKind;
use super::target::DbError;

/// A run that did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The options make no sense; the message names the bad one. Fix the
    /// command line.
    #[error("{0}")]
    Options(String),
    /// The system could not be reached or refused a connection. Check the
    /// address, credentials and that it runs.
    #[error("{system}: cannot connect: {source}")]
    Connect {
        /// The system.
        system: String,
        /// The driver's error.
        #[source]
        source: DbError,
    },
    /// Creating or loading the table failed, or reading it before the run.
    #[error("{system}: setting up the {workload} workload: {source}")]
    Setup {
        /// The system.
        system: String,
        /// The workload.
        workload: WorkloadKind,
        /// The driver's error.
        #[source]
        source: DbError,
    },
    /// Reading the table after the run failed (the run itself finished).
    #[error("{system}: checking the {workload} workload after the run: {source}")]
    Check {
        /// The system.
        system: String,
        /// The workload.
        workload: WorkloadKind,
        /// The driver's error.
        #[source]
        source: DbError,
    },
    /// A worker task panicked or was cancelled: a bug.
    #[error("a workload worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// The latency histograms could not be made or merged: a bug.
    #[error("latency histogram: {0}")]
    Histogram(String),
}
