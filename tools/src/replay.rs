//! `tickwire replay`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire replay`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire replay`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire replay: not written yet");
    ExitCode::FAILURE
}
