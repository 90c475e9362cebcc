//! Every OS call of the tools crate, the only module allowed `unsafe` (each block with its
//! `// SAFETY:` reason): the simulator's socket wait with a nanosecond timeout and precise
//! timer wake-ups (paced sending at tens of thousands of messages a second needs sleeps of
//! microseconds, not the default 50 µs timer slack); the SIGINT/SIGTERM handler's
//! installation and its two async-signal-safe calls ([`crate::signal`]); the process's
//! resource usage (`tickwire bench`'s peer-contract line).

#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::time::Duration;

/// What a wait on a socket returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Bytes (or a hang-up) can be read.
    pub read: bool,
    /// Bytes can be written.
    pub write: bool,
}

/// Waits until `fd` is readable (if `read`) or writable (if `write`), or `timeout` passes.
pub fn wait(fd: RawFd, read: bool, write: bool, timeout: Duration) -> Ready {
    let mut events: libc::c_short = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(3600) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `pfd` and `ts` are valid for the duration of the call, the array length is 1,
    // and a null signal mask leaves the thread's mask unchanged.
    let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if n <= 0 {
        return Ready::default();
    }
    let hup = pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0;
    Ready {
        read: pfd.revents & libc::POLLIN != 0 || hup,
        write: pfd.revents & libc::POLLOUT != 0 || hup,
    }
}

/// Sets this thread's timer slack to 1 ns so that short sleeps end on time.
pub fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Installs `handler` for SIGINT and SIGTERM (restarting interrupted calls).
pub fn install_signal_handler(handler: extern "C" fn(libc::c_int)) -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is a valid value of the C struct (no handler, no
        // flags, empty mask); the fields we need are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid, writable `sigset_t`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is fully initialised and outlives the call; the old action is not
        // wanted (null). The handler must be async-signal-safe (the caller's contract:
        // [`crate::signal`]'s only touches atomics and the two calls below).
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Writes `bytes` to standard output with one `write(2)`, ignoring the outcome:
/// async-signal-safe, for a signal handler.
pub fn write_stdout_raw(bytes: &[u8]) {
    // SAFETY: `write` is async-signal-safe; the pointer and length describe `bytes`.
    let _ = unsafe { libc::write(1, bytes.as_ptr().cast(), bytes.len()) };
}

/// Ends the process at once with `code` (`_exit(2)`: no Rust code runs, async-signal-safe).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and does not return.
    unsafe { libc::_exit(code) }
}

/// CPU time and context switches of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// User CPU seconds.
    pub utime_s: f64,
    /// System CPU seconds.
    pub stime_s: f64,
    /// Voluntary context switches.
    pub nvcsw: i64,
    /// Involuntary context switches.
    pub nivcsw: i64,
}

/// This process's resource usage (`getrusage(RUSAGE_SELF)`); all zero if the call fails.
pub fn usage() -> Usage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; getrusage only writes into it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return Usage::default();
    }
    // SAFETY: getrusage succeeded and filled the struct (it was zeroed before, too).
    let ru = unsafe { ru.assume_init() };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        utime_s: secs(ru.ru_utime),
        stime_s: secs(ru.ru_stime),
        nvcsw: ru.ru_nvcsw,
        nivcsw: ru.ru_nivcsw,
    }
}
