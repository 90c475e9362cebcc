//! Per-connection deadlines in fixed slots, with a cached earliest deadline.
//!
//! Every connection has one slot per [`TimerKind`], so arming, re-arming and cancelling never
//! allocate and never leave garbage behind (unlike a heap with lazy deletion). The I/O loop
//! keeps a loop-wide lower bound (see [`LoopDeadline`]) so it scans connections only when a
//! deadline may be due. Times are ns on [`crate::clock::now_ns`]'s clock.

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TimerKind {
    /// Limit on one connect attempt (resolve through upgrade).
    Connect = 0,
    /// Reconnect after backoff.
    Backoff = 1,
    /// Time to send the next client ping.
    Ping = 2,
    /// The outstanding ping must be answered by now.
    Pong = 3,
    /// Check for stale data (re-armed lazily from the last data time).
    Stale = 4,
    /// A graceful close must complete by now.
    Close = 5,
    /// The handler's own timer.
    Handler = 6,
}

const KINDS: [TimerKind; 7] = [
    TimerKind::Connect,
    TimerKind::Backoff,
    TimerKind::Ping,
    TimerKind::Pong,
    TimerKind::Stale,
    TimerKind::Close,
    TimerKind::Handler,
];

/// "Not armed".
const NEVER: u64 = u64::MAX;

/// The deadlines of one connection.
#[derive(Clone, Debug)]
pub struct Timers {
    slots: [u64; KINDS.len()],
    earliest: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers::new()
    }
}

impl Timers {
    /// No deadlines armed.
    pub const fn new() -> Timers {
        Timers {
            slots: [NEVER; KINDS.len()],
            earliest: NEVER,
        }
    }

    /// Arms (or re-arms) `kind` at `at`.
    #[inline]
    pub fn set(&mut self, kind: TimerKind, at: u64) {
        let old = self.slots[kind as usize];
        self.slots[kind as usize] = at;
        if at <= self.earliest {
            self.earliest = at;
        } else if old == self.earliest {
            self.recompute();
        }
    }

    /// Disarms `kind`.
    #[inline]
    pub fn cancel(&mut self, kind: TimerKind) {
        let old = self.slots[kind as usize];
        if old == NEVER {
            return;
        }
        self.slots[kind as usize] = NEVER;
        if old == self.earliest {
            self.recompute();
        }
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        *self = Timers::new();
    }

    /// The deadline of `kind`, if armed.
    #[inline]
    pub fn get(&self, kind: TimerKind) -> Option<u64> {
        let at = self.slots[kind as usize];
        (at != NEVER).then_some(at)
    }

    /// The earliest armed deadline, if any.
    #[inline]
    pub fn earliest(&self) -> Option<u64> {
        (self.earliest != NEVER).then_some(self.earliest)
    }

    /// Disarms and returns one kind whose deadline is `<= now` (earliest first).
    #[inline]
    pub fn pop_due(&mut self, now: u64) -> Option<TimerKind> {
        if self.earliest > now {
            return None;
        }
        let mut best: Option<(usize, u64)> = None;
        for (i, &at) in self.slots.iter().enumerate() {
            if at <= now && best.is_none_or(|(_, b)| at < b) {
                best = Some((i, at));
            }
        }
        let (i, _) = best?;
        self.slots[i] = NEVER;
        self.recompute();
        Some(KINDS[i])
    }

    fn recompute(&mut self) {
        self.earliest = self.slots.iter().copied().min().unwrap_or(NEVER);
    }
}

/// A loop-wide lower bound on every connection's earliest deadline.
///
/// Arming a deadline lowers it; cancelling leaves it (it may then be early, which costs one
/// spurious scan that recomputes it). The loop scans its connections only when `now` reaches
/// it, so an idle turn costs one comparison.
#[derive(Clone, Copy, Debug)]
pub struct LoopDeadline {
    at: u64,
}

impl Default for LoopDeadline {
    fn default() -> Self {
        LoopDeadline { at: NEVER }
    }
}

impl LoopDeadline {
    /// Lowers the bound to `at` if earlier.
    #[inline]
    pub fn note(&mut self, at: Option<u64>) {
        if let Some(at) = at {
            self.at = self.at.min(at);
        }
    }

    /// Whether a scan is due at `now`.
    #[inline]
    pub fn due(&self, now: u64) -> bool {
        self.at <= now
    }

    /// Starts a recomputation: the caller notes every connection's earliest deadline after.
    #[inline]
    pub fn reset(&mut self) {
        self.at = NEVER;
    }

    /// The bound, if any deadline is armed.
    #[inline]
    pub fn get(&self) -> Option<u64> {
        (self.at != NEVER).then_some(self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_tracks_set_and_cancel() {
        let mut t = Timers::new();
        assert_eq!(t.earliest(), None);
        t.set(TimerKind::Ping, 100);
        t.set(TimerKind::Stale, 50);
        t.set(TimerKind::Pong, 70);
        assert_eq!(t.earliest(), Some(50));
        t.cancel(TimerKind::Stale);
        assert_eq!(t.earliest(), Some(70));
        // Re-arming the earliest later moves the earliest to the next one.
        t.set(TimerKind::Pong, 200);
        assert_eq!(t.earliest(), Some(100));
        t.set(TimerKind::Ping, 300);
        assert_eq!(t.earliest(), Some(200));
        assert_eq!(t.get(TimerKind::Ping), Some(300));
        t.clear();
        assert_eq!(t.earliest(), None);
        assert_eq!(t.get(TimerKind::Ping), None);
    }

    #[test]
    fn pop_due_returns_due_kinds_in_deadline_order() {
        let mut t = Timers::new();
        t.set(TimerKind::Handler, 30);
        t.set(TimerKind::Ping, 10);
        t.set(TimerKind::Pong, 20);
        t.set(TimerKind::Connect, 1000);
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25), Some(TimerKind::Ping));
        assert_eq!(t.pop_due(25), Some(TimerKind::Pong));
        assert_eq!(t.pop_due(25), None);
        assert_eq!(t.earliest(), Some(30));
        assert_eq!(t.pop_due(u64::MAX - 1), Some(TimerKind::Handler));
        assert_eq!(t.pop_due(u64::MAX - 1), Some(TimerKind::Connect));
        assert_eq!(t.pop_due(u64::MAX - 1), None);
        assert_eq!(t.earliest(), None);
    }

    #[test]
    fn loop_deadline_is_a_lower_bound() {
        let mut d = LoopDeadline::default();
        assert!(!d.due(u64::MAX - 1));
        d.note(Some(50));
        d.note(None);
        d.note(Some(80));
        assert_eq!(d.get(), Some(50));
        assert!(!d.due(49));
        assert!(d.due(50));
        d.reset();
        assert_eq!(d.get(), None);
    }

    #[test]
    fn matches_a_naive_model() {
        // Small deterministic fuzz against a plain array model.
        let mut t = Timers::new();
        let mut model = [None::<u64>; 7];
        let mut x: u64 = 0x1234_5678;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = KINDS[(x % 7) as usize];
            let v = (x >> 8) % 1000;
            match (x >> 4) % 3 {
                0 => {
                    t.set(k, v);
                    model[k as usize] = Some(v);
                }
                1 => {
                    t.cancel(k);
                    model[k as usize] = None;
                }
                _ => {
                    let now = v;
                    let due = t.pop_due(now);
                    let expect = model
                        .iter()
                        .enumerate()
                        .filter_map(|(i, m)| m.filter(|&a| a <= now).map(|a| (a, i)))
                        .min();
                    match (due, expect) {
                        (None, None) => {}
                        (Some(k), Some((a, _))) => {
                            assert_eq!(model[k as usize], Some(a));
                            model[k as usize] = None;
                        }
                        other => panic!("mismatch {other:?}"),
                    }
                }
            }
            assert_eq!(t.earliest(), model.iter().flatten().copied().min());
        }
    }
}
