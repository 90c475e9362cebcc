//! `tickwire record`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire record`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire record`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire record: not written yet");
    ExitCode::FAILURE
}
