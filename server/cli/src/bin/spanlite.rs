//! The `spanlite` binary: parse flags, hand over to the server library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    spanlite_cli::run(spanlite_cli::Cli::parse())
}
