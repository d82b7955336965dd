//! `spanlite workload`: runs a workload of `spanlite_benches::workload`
//! against a Spanlite cluster (given by `--url`, or embedded in this
//! process), then against PostgreSQL (`--pg-url`) with the same settings,
//! and prints both side by side (or JSON).
//!
//! ```text
//!   --url A,B,C ──────────┐
//!   (none) or --embedded ─┴─▶ Spanlite run ─▶ cluster shut down ─▶ PostgreSQL run ─▶ table | JSON
//!                                                                   (if --pg-url)
//! ```
//!
//! NB: an embedded cluster is shut down before PostgreSQL runs, so the two
//! runs do not share the CPU.

use std::process::ExitCode;

use spanlite_benches::workload::{
    Comparison, Postgres, Report, Spanlite, WorkloadOptions, render, run,
};

use crate::embedded::EmbeddedCluster;

/// What `spanlite workload` was asked to do.
#[derive(Debug)]
pub struct WorkloadCommand {
    /// The workload and its settings, the same for every system.
    pub options: WorkloadOptions,
    /// Spanlite nodes (`host:port`); empty: an embedded cluster, if Spanlite
    /// runs at all.
    pub urls: Vec<String>,
    /// PostgreSQL to compare with.
    pub pg_url: Option<String>,
    /// Run Spanlite embedded even though `--pg-url` is given.
    pub embedded: bool,
    /// Nodes of an embedded cluster.
    pub nodes: usize,
    /// Print JSON instead of the table.
    pub json: bool,
    /// Print nothing on stderr but errors (no spinner, no notes).
    pub quiet: bool,
}

impl WorkloadCommand {
    /// Spanlite runs when given, embedded or remote, or when nothing else is.
    fn runs_spanlite(&self) -> bool {
        !self.urls.is_empty() || self.embedded || self.pg_url.is_none()
    }
}

/// Runs the command; fails if a run could not happen, exits non-zero if a
/// workload's check failed.
pub async fn run_command(command: WorkloadCommand) -> Result<ExitCode, String> {
    command.options.validate()?;
    let quiet = command.quiet;
    let mut reports = Vec::new();
    if command.runs_spanlite() {
        reports.push(spanlite(&command, quiet).await?);
    }
    if let Some(url) = &command.pg_url {
        let target = Postgres::new(url).map_err(|e| format!("--pg-url: {e}"))?;
        reports.push(
            run(&target, &command.options)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    if command.json {
        let json = match reports.as_slice() {
            [a, b] => serde_json::to_string_pretty(&Comparison::new(a.clone(), b.clone())),
            [one] => serde_json::to_string_pretty(one),
            all => serde_json::to_string_pretty(all),
        }
        .map_err(|e| format!("writing JSON: {e}"))?;
        println!("{json}");
    } else {
        print!("{}", render(&reports));
    }
    if reports.iter().all(Report::passed) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("spanlite: a workload check FAILED (see the check row)");
        Ok(ExitCode::FAILURE)
    }
}

/// The Spanlite run: on `--url`, or on a cluster started (and shut down)
/// here.
async fn spanlite(command: &WorkloadCommand, quiet: bool) -> Result<Report, String> {
    let sessions = command.options.concurrency;
    if !command.urls.is_empty() {
        let target = Spanlite::connect(&command.urls, sessions, command.urls.join(","))
            .await
            .map_err(|e| format!("--url: {e}"))?;
        return run(&target, &command.options)
            .await
            .map_err(|e| e.to_string());
    }
    if !quiet {
        eprintln!(
            "Starting a {}-node cluster in this process …",
            command.nodes
        );
    }
    let cluster = EmbeddedCluster::start(command.nodes).await?;
    let endpoint = format!("embedded, {} nodes", command.nodes);
    let outcome = match Spanlite::connect(cluster.addrs(), sessions, endpoint).await {
        Ok(target) => run(&target, &command.options)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("connecting to the embedded cluster: {e}")),
    };
    cluster.shutdown().await;
    outcome
}
