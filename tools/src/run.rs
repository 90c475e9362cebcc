//! `tickwire run`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire run`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire run`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire run: not written yet");
    ExitCode::FAILURE
}
