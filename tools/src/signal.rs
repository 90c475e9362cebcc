//! SIGINT and SIGTERM as a flag the tools poll, so Ctrl-C ends a run with a clean engine
//! shutdown and a summary. A second signal exits at once (code 130) in case the shutdown
//! hangs.
//!
//! Written on `libc` (already a dependency) instead of pulling in a signal crate: the handler
//! only counts, which is async-signal-safe.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static RECEIVED: AtomicU32 = AtomicU32::new(0);
static CURSOR_HIDDEN: AtomicBool = AtomicBool::new(false);

const SHOW_CURSOR: &[u8] = b"\x1b[?25h\n";

extern "C" fn on_signal(_signal: libc::c_int) {
    if RECEIVED.fetch_add(1, Ordering::SeqCst) >= 1 {
        if CURSOR_HIDDEN.load(Ordering::SeqCst) {
            // SAFETY: `write` is async-signal-safe; the buffer is a static byte string of the
            // length given.
            let _ = unsafe { libc::write(1, SHOW_CURSOR.as_ptr().cast(), SHOW_CURSOR.len()) };
        }
        // SAFETY: `_exit` is async-signal-safe; it ends the process without running Rust code.
        unsafe { libc::_exit(130) }
    }
}

/// Tells the handler that the terminal's cursor is hidden (the live view), so a forced exit
/// shows it again.
pub fn cursor_hidden(hidden: bool) {
    CURSOR_HIDDEN.store(hidden, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is a valid value of the C struct (no handler, no
        // flags, empty mask); the fields we need are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid, writable `sigset_t`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is fully initialised and outlives the call; the old action is not
        // wanted (null); the handler only touches an atomic and `_exit`.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived since [`install`].
pub fn received() -> bool {
    RECEIVED.load(Ordering::SeqCst) > 0
}
