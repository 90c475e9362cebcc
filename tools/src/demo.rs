//! The demo: simulator + engine + live view. (Not written yet.)

use std::process::ExitCode;

/// Runs the demo.
pub fn run() -> ExitCode {
    eprintln!("tickwire: the demo is not written yet");
    ExitCode::FAILURE
}
