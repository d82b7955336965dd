//! The `spanlite` command line. `main` only parses and calls `run`.

use std::process::ExitCode;

use clap::Parser;

/// Spanlite: a Spanner-style distributed SQL database.
///
/// No subcommands are built yet: `start`, `init`, `sql`, `demo` and
/// `workload` arrive with the issues that build them (see README.md).
#[derive(Debug, Parser)]
#[command(name = "spanlite", version, about, long_about = None)]
pub struct Cli {}

/// Runs the command line. Returns the process exit code.
pub fn run(_cli: Cli) -> ExitCode {
    eprintln!(
        "spanlite {}: no subcommands are built yet (start, init, sql, demo and workload are coming); \
         see `spanlite --help` and README.md",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
