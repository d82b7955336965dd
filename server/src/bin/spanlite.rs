//! The `spanlite` binary: parse flags, hand over to the server library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    spanlite_server::run(spanlite_server::Cli::parse())
}
