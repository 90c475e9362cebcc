//! SPSC delivery of [`Event`]s from the I/O thread to one consumer thread.
//!
//! Built on [`rtrb`] (chosen over `crossbeam_queue::ArrayQueue` by `benches/benches/queue.rs`;
//! numbers in the README). The producer never blocks: when the ring is full the event is
//! dropped and counted, and before the next event that fits, the consumer receives one
//! [`StatusKind::Overflow`] event whose value is the exact number dropped, so it knows its
//! book needs a resync.
//!
//! A run of events pushed with [`EventProducer::push_slice`] (one venue message, or one
//! snapshot run) goes in whole or not at all: a consumer never sees part of a run followed by
//! an `Overflow`. Runs pushed event by event with [`EventProducer::push`] can be cut; book
//! consumers are protected by [`crate::event::Flags::RUN_START`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::{Event, Status, StatusKind};
use crate::inline::{InlineConsumer, InlineHandle, InlineSink};
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// Most events one ring may hold: 16 Mi events of 64 bytes, 1 GiB. A larger request is an
/// error ([`try_channel`], `EngineBuilder::consumer`, `EngineHandle::add_consumer`) rather
/// than an allocation that aborts the process.
pub const MAX_CAPACITY: usize = 1 << 24;

/// A ring capacity over [`MAX_CAPACITY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ring capacity {requested} is over the maximum of {max} events", max = MAX_CAPACITY)]
pub struct CapacityError {
    /// The capacity asked for.
    pub requested: usize,
}

/// Counters shared by both ends of one ring (read by metrics, written on drop only).
#[derive(Debug, Default)]
pub struct RingStats {
    dropped: AtomicU64,
}

impl RingStats {
    /// Total events dropped on this ring since it was created.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The I/O thread's end of a consumer ring.
pub struct EventProducer {
    inner: rtrb::Producer<Event>,
    /// Dropped since the last `Overflow` status was delivered.
    pending_dropped: u64,
    /// Fewer free slots than this: the ring is congested (a quarter of its capacity).
    low_free: usize,
    /// Events dropped on this ring ever (the I/O thread's own copy of `stats.dropped`).
    lost: u64,
    /// Removed or abandoned: unrouted by the engine, its ring released.
    retired: bool,
    stats: Arc<RingStats>,
    /// An inline consumer in place of the ring (`inner` is then an unused placeholder):
    /// events are handed to it on the I/O thread instead ([`crate::inline`]).
    inline: Option<Box<InlineSink>>,
    /// Events written ever: with the free slots, where the consumer's reading is.
    written: u64,
    /// [`EventProducer::is_starved`]: the consumer's read position when last looked at,
    /// since when it has stood there (0: not watched), and checks to skip after it moved.
    watch_read: u64,
    watch_since: u64,
    watch_skip: u32,
}

/// After seeing a consumer that is behind still reading, [`EventProducer::is_starved`]
/// skips this many checks before looking again (a look reads the consumer's position, a
/// cache line it writes, and the clock).
const WATCH_SKIP: u32 = 8;

/// A consumer thread's end of a ring. `Send`: hand it to any thread.
pub struct Consumer {
    inner: rtrb::Consumer<Event>,
    stats: Arc<RingStats>,
}

/// Creates a ring of `capacity` events (at least 2; at most [`MAX_CAPACITY`], to which a
/// larger request is cut: use [`try_channel`] to have it refused).
pub fn channel(capacity: usize) -> (EventProducer, Consumer) {
    let capacity = capacity.clamp(2, MAX_CAPACITY);
    let (p, c) = rtrb::RingBuffer::new(capacity);
    let stats = Arc::new(RingStats::default());
    (
        EventProducer {
            inner: p,
            pending_dropped: 0,
            low_free: capacity / 4,
            lost: 0,
            retired: false,
            stats: stats.clone(),
            inline: None,
            written: 0,
            watch_read: 0,
            watch_since: 0,
            watch_skip: 0,
        },
        Consumer { inner: c, stats },
    )
}

/// The I/O thread's end of an inline consumer: an [`EventProducer`] that calls `consumer`
/// with every run pushed to it (see [`crate::inline`]), and the handle that watches it.
/// Control path (allocates).
pub fn inline(consumer: impl InlineConsumer) -> (EventProducer, InlineHandle) {
    let (sink, handle) = InlineSink::new(Box::new(consumer));
    let (placeholder, _) = rtrb::RingBuffer::new(1);
    let producer = EventProducer {
        inner: placeholder,
        pending_dropped: 0,
        // Never congested (no slot is ever short).
        low_free: 0,
        lost: 0,
        retired: false,
        stats: Arc::new(RingStats::default()),
        inline: Some(Box::new(sink)),
        written: 0,
        watch_read: 0,
        watch_since: 0,
        watch_skip: 0,
    };
    (producer, handle)
}

/// Creates a ring of `capacity` events (at least 2), or refuses a capacity over
/// [`MAX_CAPACITY`].
pub fn try_channel(capacity: usize) -> Result<(EventProducer, Consumer), CapacityError> {
    if capacity > MAX_CAPACITY {
        return Err(CapacityError {
            requested: capacity,
        });
    }
    Ok(channel(capacity))
}

impl EventProducer {
    /// Pushes `event`, or drops and counts it when the ring is full. Returns whether it was
    /// delivered. Never blocks, never allocates.
    #[inline]
    pub fn push(&mut self, event: Event) -> bool {
        if let Some(sink) = &mut self.inline {
            sink.deliver(std::slice::from_ref(&event), None);
            return true;
        }
        if self.pending_dropped == 0 {
            match self.inner.push(event) {
                Ok(()) => {
                    self.written += 1;
                    return true;
                }
                Err(_) => {
                    self.drop_one();
                    return false;
                }
            }
        }
        // A drop is pending: the Overflow status must go first, so two slots are needed.
        if self.inner.slots() >= 2 {
            let status = self.overflow_status(event.recv_ts);
            // Both pushes succeed: there are two free slots and only this thread pushes.
            let ok = self.inner.push(status).is_ok() && self.inner.push(event).is_ok();
            debug_assert!(ok);
            self.written += 2;
            self.pending_dropped = 0;
            ok
        } else {
            self.drop_one();
            false
        }
    }

    /// Reports pending drops now if the ring has room, without waiting for the next event
    /// (a burst's trailing drops would otherwise stay unknown to the consumer until the
    /// feed's next message). Returns whether drops are still pending.
    #[inline]
    pub fn flush_overflow(&mut self, now: u64) -> bool {
        if self.pending_dropped == 0 || self.inline.is_some() {
            return false;
        }
        if self.inner.slots() == 0 {
            return true;
        }
        let status = self.overflow_status(now);
        if self.inner.push(status).is_ok() {
            self.written += 1;
            self.pending_dropped = 0;
        }
        self.pending_dropped > 0
    }

    /// Whether drops wait to be reported (for an inline consumer: whether it panicked and
    /// waits to be retired, which the loop does where it reports drops).
    #[inline]
    pub fn has_pending_drops(&self) -> bool {
        self.pending_dropped > 0 || self.inline.as_ref().is_some_and(|s| s.has_failed())
    }

    /// Whether this is an inline consumer's end rather than a ring's.
    #[inline]
    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }

    /// Pushes a run as [`EventProducer::push_slice`] does, each event stamped with publish
    /// time `at` when given; an inline consumer gets the run itself when no stamp is asked
    /// for (no copy).
    #[inline]
    pub(crate) fn push_run(&mut self, events: &[Event], at: Option<u64>) -> usize {
        if let Some(sink) = &mut self.inline {
            sink.deliver(events, at);
            return events.len();
        }
        self.push_slice(events, move |mut e: Event| {
            if let Some(ts) = at {
                e.stamp_published(ts);
            }
            e
        })
    }

    /// Pushes a run of events (one venue message's, or one snapshot run) with one
    /// publication of the write position; each event goes through `stamp` on its way in.
    /// The run goes in whole or not at all: where it does not fit (with the `Overflow`
    /// report of earlier drops before it), every event of it is dropped and counted, so a
    /// consumer never sees a run cut by an overflow. Returns how many were delivered (all or
    /// none).
    #[inline]
    pub fn push_slice(&mut self, events: &[Event], stamp: impl Fn(Event) -> Event) -> usize {
        let Some(first) = events.first() else {
            return 0;
        };
        if let Some(sink) = &mut self.inline {
            sink.deliver_with(events, stamp);
            return events.len();
        }
        if self.pending_dropped == 0 {
            if let Ok(chunk) = self.inner.write_chunk_uninit(events.len()) {
                let n = chunk.fill_from_iter(events.iter().map(|e| stamp(*e)));
                self.written += n as u64;
                return n;
            }
        } else if self.inner.slots() > events.len() {
            // Room for the report and the whole run; only this thread pushes.
            let status = self.overflow_status(first.recv_ts);
            if self.inner.push(status).is_ok() {
                self.written += 1;
                self.pending_dropped = 0;
                if let Ok(chunk) = self.inner.write_chunk_uninit(events.len()) {
                    let n = chunk.fill_from_iter(events.iter().map(|e| stamp(*e)));
                    self.written += n as u64;
                    return n;
                }
            }
        }
        self.drop_run(events.len());
        0
    }

    #[cold]
    fn drop_run(&mut self, n: usize) {
        self.pending_dropped += n as u64;
        self.lost += n as u64;
        self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The in-band report of the drops pending.
    fn overflow_status(&self, ts: u64) -> Event {
        Event::status(
            InstrumentId::NONE,
            Status {
                kind: StatusKind::Overflow,
                reason: Reason::Backpressure.code(),
                value: self.pending_dropped,
                connection: 0,
            },
            ts,
        )
    }

    #[cold]
    fn drop_one(&mut self) {
        self.drop_run(1);
    }

    /// Free slots right now ([`MAX_CAPACITY`] for an inline consumer, which never fills).
    #[inline]
    pub fn slots(&self) -> usize {
        if self.inline.is_some() {
            return MAX_CAPACITY;
        }
        self.inner.slots()
    }

    /// How many events the ring holds at most ([`MAX_CAPACITY`] for an inline consumer).
    #[inline]
    pub fn capacity(&self) -> usize {
        if self.inline.is_some() {
            return MAX_CAPACITY;
        }
        self.inner.buffer().capacity()
    }

    /// Events dropped on this ring since it was created (as [`RingStats::dropped`], without
    /// an atomic read): a change means its consumer got, or will get, an `Overflow`.
    #[inline]
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether the engine retired this ring (its consumer was removed or dropped).
    #[inline]
    pub fn is_retired(&self) -> bool {
        self.retired
    }

    /// Releases the ring: the consumer end, if still held, sees [`Consumer::is_abandoned`]
    /// once it has drained what was delivered; pending drops are forgotten. Control path
    /// (allocates a one-slot placeholder).
    pub(crate) fn retire(&mut self) {
        let (placeholder, _) = rtrb::RingBuffer::new(1);
        self.inner = placeholder;
        self.pending_dropped = 0;
        self.retired = true;
        // An inline consumer is dropped here (its handle then says detached).
        self.inline = None;
    }

    /// Whether the ring is more than three quarters full (or dropping): the I/O thread
    /// yields to a consumer that shares its core before the ring overflows
    /// ([`crate::IdleStrategy::SpinThenYield`]). The consumer's position is read only when
    /// the cached one says the ring may be congested.
    #[inline]
    pub fn is_congested(&self) -> bool {
        self.pending_dropped > 0
            || (self.inner.cached_slots() < self.low_free && self.inner.slots() < self.low_free)
    }

    /// Whether the consumer holds more than `events` unread events, or the ring is
    /// congested ([`EventProducer::is_congested`]). As there, the consumer's position is read
    /// only when the cached one says the consumer may be that far behind. An inline
    /// consumer is never behind (nothing is queued for it).
    #[inline]
    pub fn is_behind(&self, events: usize) -> bool {
        if self.inline.is_some() {
            return false;
        }
        let free = self.capacity().saturating_sub(events).max(self.low_free);
        self.pending_dropped > 0 || (self.inner.cached_slots() < free && self.inner.slots() < free)
    }

    /// Whether the consumer, more than `events` behind, has stood still for `stall_ns` (at
    /// the time `now` gives, asked only then), or the ring is congested
    /// ([`EventProducer::is_congested`]). A consumer that shares the I/O thread's core runs
    /// only when the I/O thread yields, so it stands still however far behind it falls; one
    /// with a core of its own keeps reading, and pausing for it would only cost throughput.
    /// With `stall_ns` 0 this is [`EventProducer::is_behind`]. Only when the cached
    /// position says the consumer may be that far behind is its position read (and then
    /// at most once every 8 calls while it is seen reading).
    #[inline]
    pub fn is_starved(&mut self, events: usize, stall_ns: u64, now: impl FnOnce() -> u64) -> bool {
        if stall_ns == 0 {
            return self.is_behind(events);
        }
        if self.inline.is_some() {
            return false;
        }
        if self.pending_dropped > 0 {
            return true;
        }
        let free = self.capacity().saturating_sub(events).max(self.low_free);
        if self.inner.cached_slots() >= free {
            self.watch_since = 0;
            return false;
        }
        self.watch(free, stall_ns, now)
    }

    /// The slow path of [`EventProducer::is_starved`].
    #[inline(never)]
    fn watch(&mut self, free: usize, stall_ns: u64, now: impl FnOnce() -> u64) -> bool {
        if self.watch_skip > 0 && self.inner.cached_slots() >= self.low_free {
            self.watch_skip -= 1;
            return false;
        }
        let slots = self.inner.slots();
        if slots >= free {
            self.watch_since = 0;
            return false;
        }
        if slots < self.low_free {
            return true;
        }
        let unread = (self.capacity() - slots) as u64;
        let read = self.written.wrapping_sub(unread);
        let now = now();
        if self.watch_since == 0 || read != self.watch_read {
            self.watch_read = read;
            self.watch_since = now.max(1);
            self.watch_skip = WATCH_SKIP;
            return false;
        }
        now.saturating_sub(self.watch_since) >= stall_ns
    }

    /// Whether the consumer end was dropped (for an inline consumer: whether it panicked).
    pub fn is_abandoned(&self) -> bool {
        if let Some(sink) = &self.inline {
            return sink.has_failed();
        }
        self.inner.is_abandoned()
    }

    /// Shared counters of this ring.
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }
}

impl Consumer {
    /// Takes the next event, if any. Never blocks.
    #[inline]
    pub fn pop(&mut self) -> Option<Event> {
        self.inner.pop().ok()
    }

    /// Hands up to `max` waiting events to `f`, in order, and gives their slots back to the
    /// producer once at the end (one publication of the read position per batch rather than
    /// per event). `f` returns `false` to stop after the event it was given; events after it
    /// stay in the ring. Returns how many were taken. Never blocks.
    #[inline]
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(&Event) -> bool) -> usize {
        let n = self.inner.slots().min(max);
        let Ok(chunk) = self.inner.read_chunk(n) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        let mut taken = 0;
        for e in a.iter().chain(b) {
            taken += 1;
            if !f(e) {
                break;
            }
        }
        chunk.commit(taken);
        taken
    }

    /// Events waiting right now.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.slots()
    }

    /// Whether no event is waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the I/O thread dropped its end (engine shut down) — drain, then stop.
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// Shared counters of this ring.
    pub fn stats(&self) -> &Arc<RingStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u64) -> Event {
        Event::status(
            InstrumentId(0),
            Status {
                kind: StatusKind::Connected,
                reason: 0,
                value: i,
                connection: 1,
            },
            i,
        )
    }

    #[test]
    fn overflow_is_reported_in_band_with_exact_count() {
        let (mut p, mut c) = channel(4);
        for i in 0..10 {
            p.push(ev(i));
        }
        // 4 delivered, 6 dropped
        for i in 0..4 {
            assert_eq!(c.pop().unwrap().seq, i);
        }
        assert!(c.pop().is_none());
        assert!(p.push(ev(100)));
        let s = c.pop().unwrap().as_status().unwrap();
        assert_eq!((s.kind, s.value), (StatusKind::Overflow, 6));
        assert_eq!(c.pop().unwrap().seq, 100);
        assert_eq!(c.stats().dropped(), 6);
    }

    #[test]
    fn congested_past_three_quarters_and_while_dropping() {
        let (mut p, mut c) = channel(16);
        for i in 0..12 {
            assert!(!p.is_congested(), "{i} queued of 16");
            p.push(ev(i));
        }
        // 4 free slots left: not below a quarter yet.
        assert!(!p.is_congested());
        p.push(ev(12));
        assert!(p.is_congested());
        // The consumer drains: the producer sees it.
        while c.pop().is_some() {}
        assert!(!p.is_congested());
        for i in 0..17 {
            p.push(ev(i));
        }
        while c.pop().is_some() {}
        // Empty again, but a drop is pending until the next push reports it.
        assert!(p.is_congested());
        assert!(p.push(ev(99)));
        assert!(!p.is_congested());
    }

    #[test]
    fn behind_past_the_given_backlog_or_when_congested() {
        let (mut p, mut c) = channel(16);
        for i in 0..4 {
            assert!(!p.is_behind(4), "{i} unread");
            p.push(ev(i));
        }
        // 4 unread: not more than 4 yet; the fifth is.
        assert!(!p.is_behind(4));
        p.push(ev(4));
        assert!(p.is_behind(4));
        // The consumer reads one: the producer sees it.
        c.pop();
        assert!(!p.is_behind(4));
        // 13 unread, past the congestion bound (fewer than 4 free): that rule still holds.
        for i in 5..14 {
            p.push(ev(i));
        }
        assert_eq!(p.is_behind(usize::MAX), p.is_congested());
        assert!(p.is_behind(usize::MAX));
        assert!(p.is_behind(1_000));
    }

    /// A consumer past the backlog that keeps reading (a core of its own) is not yielded
    /// to; one that stands still for the stall time (a core shared with the I/O thread) is.
    #[test]
    fn starved_only_when_a_consumer_past_the_backlog_stands_still() {
        let never = || -> u64 { unreachable!("the clock is not asked") };
        let (mut p, mut c) = channel(64);
        let stall = 1_000;
        for i in 0..4 {
            p.push(ev(i));
        }
        // Not past the backlog: no look at the consumer or the clock.
        assert!(!p.is_starved(4, stall, never));
        for i in 4..8 {
            p.push(ev(i));
        }
        // Past it: the watch starts (at 100 ns), then a few calls are skipped.
        assert!(!p.is_starved(4, stall, || 100));
        for _ in 0..WATCH_SKIP {
            assert!(!p.is_starved(4, stall, never));
        }
        // Standing still: starved once the stall time has passed since the watch began.
        assert!(!p.is_starved(4, stall, || 600));
        assert!(p.is_starved(4, stall, || 1_100));
        // It reads one: moving, so not starved; the watch starts over.
        c.pop();
        assert!(!p.is_starved(4, stall, || 1_200));
        for _ in 0..WATCH_SKIP {
            assert!(!p.is_starved(4, stall, never));
        }
        assert!(!p.is_starved(4, stall, || 2_100));
        assert!(p.is_starved(4, stall, || 2_200));
        // Caught up: not starved, and the watch is over.
        while c.pop().is_some() {}
        assert!(!p.is_starved(4, stall, never));
        // Congested (fewer than a quarter free): at once, whatever the consumer does.
        for i in 0..50 {
            p.push(ev(i));
        }
        assert!(p.is_starved(4, stall, || 2_300));
        // A stall time of zero: the size rule alone.
        while c.pop().is_some() {}
        for i in 0..5 {
            p.push(ev(i));
        }
        assert!(p.is_starved(4, 0, never));
    }

    #[test]
    fn trailing_drops_are_flushed_once_there_is_room() {
        let (mut p, mut c) = channel(4);
        for i in 0..6 {
            p.push(ev(i));
        }
        assert!(p.has_pending_drops());
        // Full: nothing to flush into yet.
        assert!(p.flush_overflow(7));
        for i in 0..4 {
            assert_eq!(c.pop().unwrap().seq, i);
        }
        assert!(!p.flush_overflow(7));
        let s = c.pop().unwrap().as_status().unwrap();
        assert_eq!((s.kind, s.value), (StatusKind::Overflow, 2));
        assert!(c.pop().is_none());
        assert!(!p.has_pending_drops());
        // The next event follows directly, with no second report.
        assert!(p.push(ev(8)));
        assert_eq!(c.pop().unwrap().seq, 8);
    }

    #[test]
    fn slices_go_in_whole_or_not_at_all_with_the_drops_reported() {
        let (mut p, mut c) = channel(8);
        let run: Vec<Event> = (0..5).map(ev).collect();
        let mark = |mut e: Event| {
            e.exchange_ts = 7;
            e
        };
        assert_eq!(p.push_slice(&run, mark), 5);
        // Three free: the second run does not fit and is dropped whole, never cut.
        assert_eq!(p.push_slice(&run, mark), 0);
        assert_eq!((p.lost(), c.stats().dropped()), (5, 5));
        let got: Vec<u64> = std::iter::from_fn(|| c.pop()).map(|e| e.seq).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // Eight free: the pending report goes first, then the whole run.
        assert_eq!(p.push_slice(&run, mark), 5);
        let s = c.pop().unwrap().as_status().unwrap();
        assert_eq!((s.kind, s.value), (StatusKind::Overflow, 5));
        let e = c.pop().unwrap();
        assert_eq!((e.seq, e.exchange_ts), (0, 7));
        // Four held, four free; one more event leaves three: a run of five is dropped whole.
        assert!(p.push(ev(10)));
        assert_eq!(p.push_slice(&run, mark), 0);
        // Three free and drops pending: a run of three needs a fourth slot for the report.
        assert_eq!(p.push_slice(&run[..3], mark), 0);
        assert!(p.has_pending_drops());
        // Room for exactly the report and a run of three.
        assert_eq!(c.pop().map(|e| e.seq), Some(1));
        assert_eq!(p.push_slice(&run[..3], mark), 3);
        let rest: Vec<Event> = std::iter::from_fn(|| c.pop()).collect();
        let status = rest
            .iter()
            .position(|e| {
                e.as_status()
                    .is_some_and(|s| s.kind == StatusKind::Overflow)
            })
            .unwrap();
        assert_eq!(status, 4);
        assert_eq!(rest[status].as_status().map(|s| s.value), Some(8));
        assert_eq!(
            rest[status + 1..].iter().map(|e| e.seq).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(c.pop().is_none());
        assert_eq!(p.push_slice(&[], mark), 0);
        assert_eq!(c.stats().dropped(), 13);
    }

    #[test]
    fn a_capacity_over_the_maximum_is_an_error() {
        assert_eq!(
            try_channel(MAX_CAPACITY + 1).err(),
            Some(CapacityError {
                requested: MAX_CAPACITY + 1
            })
        );
        assert!(try_channel(usize::MAX).is_err());
        assert!(try_channel(1 << 30).is_err());
        let (p, _c) = try_channel(0).unwrap();
        assert_eq!(p.capacity(), 2);
    }

    #[test]
    fn a_retired_ring_is_abandoned_for_its_consumer_after_what_was_delivered() {
        let (mut p, mut c) = channel(4);
        assert!(p.push(ev(1)));
        p.push(ev(2));
        assert!(!p.is_retired());
        p.retire();
        assert!(p.is_retired() && c.is_abandoned());
        assert_eq!(c.pop().map(|e| e.seq), Some(1));
        assert_eq!(c.pop().map(|e| e.seq), Some(2));
        assert!(c.pop().is_none());
    }

    #[test]
    fn drain_takes_in_order_stops_when_told_and_frees_the_slots() {
        let (mut p, mut c) = channel(4);
        for i in 0..4 {
            assert!(p.push(ev(i)));
        }
        let mut seen = Vec::new();
        assert_eq!(
            c.drain(usize::MAX, |e| {
                seen.push(e.seq);
                e.seq < 1
            }),
            2
        );
        assert_eq!(seen, [0, 1]);
        // The two taken slots are the producer's again; the rest waits, in order.
        assert!(p.push(ev(4)) && p.push(ev(5)));
        assert!(!p.push(ev(6)));
        seen.clear();
        assert_eq!(
            c.drain(3, |e| {
                seen.push(e.seq);
                true
            }),
            3
        );
        assert_eq!(seen, [2, 3, 4]);
        // The drop is reported before the next event, as with `pop`.
        assert!(p.push(ev(7)));
        let mut rest = Vec::new();
        c.drain(usize::MAX, |e| {
            rest.push(*e);
            true
        });
        assert_eq!(rest[0].seq, 5);
        assert_eq!(rest[1].as_status().map(|s| s.value), Some(1));
        assert_eq!(rest[2].seq, 7);
        assert_eq!(c.drain(usize::MAX, |_| true), 0);
    }

    #[test]
    fn consumer_is_send() {
        fn is_send<T: Send>() {}
        is_send::<Consumer>();
        is_send::<EventProducer>();
    }
}
