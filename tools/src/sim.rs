//! `tickwire sim`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire sim`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire sim`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire sim: not written yet");
    ExitCode::FAILURE
}
