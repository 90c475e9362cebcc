//! SIGINT and SIGTERM as a flag the tools poll, so Ctrl-C ends a run with a clean engine
//! shutdown and a summary. A second signal exits at once (code 130) in case the shutdown
//! hangs.
//!
//! Written on `libc` (already a dependency; the calls are in [`crate::sys`]) instead of
//! pulling in a signal crate: the handler only counts, which is async-signal-safe.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static RECEIVED: AtomicU32 = AtomicU32::new(0);
static CURSOR_HIDDEN: AtomicBool = AtomicBool::new(false);

const SHOW_CURSOR: &[u8] = b"\x1b[?25h\n";

extern "C" fn on_signal(_signal: libc::c_int) {
    if RECEIVED.fetch_add(1, Ordering::SeqCst) >= 1 {
        if CURSOR_HIDDEN.load(Ordering::SeqCst) {
            crate::sys::write_stdout_raw(SHOW_CURSOR);
        }
        crate::sys::exit_now(130);
    }
}

/// Tells the handler that the terminal's cursor is hidden (the live view), so a forced exit
/// shows it again.
pub fn cursor_hidden(hidden: bool) {
    CURSOR_HIDDEN.store(hidden, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> io::Result<()> {
    crate::sys::install_signal_handler(on_signal)
}

/// Whether SIGINT or SIGTERM arrived since [`install`].
pub fn received() -> bool {
    RECEIVED.load(Ordering::SeqCst) > 0
}
