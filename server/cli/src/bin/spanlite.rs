//! The `spanlite` binary: parse flags, hand over to the server library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: allocation was 12 % of the bank
/// workload's CPU with glibc (docs/performance.md); kept because it won the
/// same-run comparison recorded there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    spanlite_cli::run(spanlite_cli::Cli::parse())
}
