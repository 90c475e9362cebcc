//! `tickwire bench`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire bench`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire bench`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire bench: not written yet");
    ExitCode::FAILURE
}
