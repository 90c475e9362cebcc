//! The simulator's two OS calls: waiting on one socket with a nanosecond timeout, and
//! asking for precise timer wake-ups (paced sending at tens of thousands of messages a
//! second needs sleeps of microseconds, not the default 50 µs timer slack).

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
