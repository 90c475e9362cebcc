//! `tickwire decode`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire decode`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire decode`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire decode: not written yet");
    ExitCode::FAILURE
}
