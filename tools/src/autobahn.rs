//! `tickwire autobahn`. (Not written yet.)

use std::process::ExitCode;

/// Arguments of `tickwire autobahn`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `tickwire autobahn`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("tickwire autobahn: not written yet");
    ExitCode::FAILURE
}
