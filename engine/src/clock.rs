//! The engine's clocks. Every timestamp is CLOCK_REALTIME in ns since the UNIX epoch: the
//! venues', the load server's and other processes' clocks are compared with it.
//!
//! * [`now_ns`]: the realtime clock itself (vDSO, no syscall; about 26 ns a read here).
//! * [`read_ns`]: a socket read's receive stamp — [`now_ns`], which also **anchors** this
//!   thread's stage clock.
//! * [`stage_ns`]: the later stamps of the I/O thread (a message decoded, published; a
//!   consumer's stall): the last anchor plus the TSC ticks since it, scaled by a calibration
//!   done once per process (`quanta`; about 10 ns a read). Still a realtime stamp: it is
//!   the anchor's realtime plus an interval the TSC measured, so it compares with other
//!   threads' and processes' stamps as [`now_ns`] would. An anchor older than
//!   [`ANCHOR_MAX_AGE_NS`] is renewed (NTP may slew the realtime clock against the TSC by
//!   up to 0.05 %, i.e. 0.5 µs a millisecond, so the error stays below that), as is a
//!   missing one. Without a usable TSC the stage clock is the monotonic clock.
//!
//! Parsers never read a clock, so replay is deterministic.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Oldest anchor [`stage_ns`] extrapolates from, ns; older ones are renewed by a realtime read.
pub const ANCHOR_MAX_AGE_NS: u64 = 1_000_000;

/// The calibrated TSC, once per process ([`init_stage_clock`]).
static TICKS: OnceLock<quanta::Clock> = OnceLock::new();

thread_local! {
    /// This thread's anchor: (realtime ns, TSC ticks) of its last [`read_ns`]; (0, 0): none.
    static ANCHOR: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Now, in ns since the UNIX epoch. Same clock as the venue's and the load server's `ts`.
#[inline]
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Calibrates the TSC for [`stage_ns`] on this thread (once per process; the first call
/// spins for up to 200 ms, later ones return at once). Until it is done [`stage_ns`] reads
/// the realtime clock.
pub fn init_stage_clock() {
    TICKS.get_or_init(quanta::Clock::new);
}

/// [`init_stage_clock`] on a thread of its own, so a starting engine does not wait for the
/// calibration: stage stamps read the realtime clock until it ends (both are realtime
/// stamps, so nothing compares wrongly across the switch). Returns at once; a process that
/// cannot spawn the thread keeps the realtime clock.
pub fn init_stage_clock_in_background() {
    if TICKS.get().is_some() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("tickwire-clock".into())
        .spawn(init_stage_clock);
}

/// Whether the stage clock is calibrated (until then [`stage_ns`] reads the realtime clock).
pub fn stage_clock_ready() -> bool {
    TICKS.get().is_some()
}

/// A receive stamp: [`now_ns`], also anchoring this thread's [`stage_ns`].
#[inline]
pub fn read_ns() -> u64 {
    let ns = now_ns();
    if let Some(ticks) = TICKS.get() {
        ANCHOR.set((ns, ticks.raw()));
    }
    ns
}

/// A stage stamp: this thread's last anchor plus the TSC interval since, in realtime ns; a
/// fresh [`read_ns`] when the anchor is missing or older than [`ANCHOR_MAX_AGE_NS`].
#[inline]
pub fn stage_ns() -> u64 {
    let (ns, raw) = ANCHOR.get();
    if let (true, Some(ticks)) = (ns != 0, TICKS.get()) {
        let since = ticks.delta_as_nanos(raw, ticks.raw());
        if since < ANCHOR_MAX_AGE_NS {
            return ns + since;
        }
    }
    read_ns()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stage clock tells the realtime clock's time: a stage stamp lies between two
    /// realtime reads around it (a 20 µs margin for a preempted thread is far below what a
    /// wrong scale or anchor would give: a 0.1 % scale error over 1 ms, or an anchor not
    /// moved, is visible as soon as the thread sleeps past the anchor's age).
    #[test]
    fn stage_stamps_lie_between_realtime_reads_and_anchors_renew() {
        init_stage_clock();
        let anchor = read_ns();
        for pause_us in [0u64, 50, 300, 2_000] {
            std::thread::sleep(std::time::Duration::from_micros(pause_us));
            let before = now_ns();
            let stage = stage_ns();
            let after = now_ns();
            assert!(
                stage + 20_000 >= before && stage <= after + 20_000,
                "pause {pause_us} µs: {before} ≤ {stage} ≤ {after}"
            );
            assert!(stage >= anchor);
        }
        // After 2 ms the anchor was renewed by that stage read itself.
        let (ns, _) = ANCHOR.get();
        assert!(ns > anchor + 1_000_000, "anchor {ns} vs first {anchor}");
    }

    #[test]
    fn a_thread_without_an_anchor_reads_the_realtime_clock() {
        init_stage_clock();
        std::thread::spawn(|| {
            assert_eq!(ANCHOR.get(), (0, 0));
            let before = now_ns();
            let stage = stage_ns();
            assert!(stage >= before && stage <= now_ns());
            assert_ne!(ANCHOR.get().0, 0, "the read anchored the thread");
        })
        .join()
        .unwrap();
    }
}
