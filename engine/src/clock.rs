//! The one clock of the engine: CLOCK_REALTIME in ns since the UNIX epoch (vDSO, no syscall).
//!
//! Read once per socket read and passed down; parsers never read the clock, so replay is
//! deterministic.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ns since the UNIX epoch. Same clock as the venue's and the load server's `ts`.
#[inline]
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
