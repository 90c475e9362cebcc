//! The consumer thread: pops events from the ring, counts one per venue message and records
//! wire→consumer latency (`now − exchange_ts`, the load server's `"ts"` probe) for it. With
//! `--inline` the same counting runs on the I/O thread itself ([`Inline`], an inline
//! consumer: no ring, no hand-off).
//!
//! One message is: a book diff's event flagged LAST_IN_BATCH (snapshot runs are not wire
//! messages and are not counted), each trade, each BBO. Status events are tallied; a
//! disconnect ends the run (the load server closes after its count, a failed connect never
//! gets that far).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use tickwire_engine::event::{EventKind, Flags, Status, StatusKind};
use tickwire_engine::telemetry::StageRecorder;
use tickwire_engine::{Consumer, Event, InlineConsumer, Reason, clock};

/// State the consumer shares with the main thread.
#[derive(Default)]
pub(super) struct Shared {
    /// Messages counted so far (updated every [`PROGRESS_EVERY`] messages).
    pub(super) progress: AtomicU64,
    /// Set by the main thread to end the run early.
    pub(super) stop: AtomicBool,
}

/// How often the progress counter is published.
const PROGRESS_EVERY: u64 = 1024;

/// What ended the consumer loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// `count` messages consumed.
    Count,
    /// The connection went down (a Close frame, a reset, or a failed connect).
    Disconnected {
        /// The engine's reason.
        reason: Reason,
        /// Whether the connection had been live before.
        was_connected: bool,
    },
    /// The engine stopped (its ring end is gone) and the ring is drained.
    EngineStopped,
    /// The main thread asked to stop.
    Stopped,
}

/// Everything the consumer measured.
pub(super) struct Tally {
    /// Wire→consumer (`now − exchange_ts`) per recorded message, ns.
    pub(super) wire: Histogram<u64>,
    /// Wire→receive (`recv_ts − exchange_ts`) per recorded message, ns.
    pub(super) wire_to_recv: Histogram<u64>,
    /// published→consumed and recv→consumed per recorded message.
    pub(super) stages: StageRecorder,
    /// Messages consumed, warm-up included.
    pub(super) msgs: u64,
    /// Events popped (levels, trades, BBOs, statuses).
    pub(super) events: u64,
    /// Consumer clock at the first and the last message.
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    /// Events the engine dropped on this ring (from `Overflow` statuses).
    pub(super) dropped: u64,
    /// Gap, resync and decode-error statuses seen.
    pub(super) gaps: u64,
    pub(super) resyncs: u64,
    pub(super) decode_errors: u64,
    /// Snapshot runs received (book sync).
    pub(super) snapshots: u64,
    /// Recorded messages without an exchange timestamp (no probe): not in `wire`.
    pub(super) unstamped: u64,
    /// Checksum of consumed fields, so the work cannot be optimized away.
    pub(super) digest: u64,
    pub(super) end: End,
    warmup: u64,
}

/// A histogram from 1 ns to 100 s with 3 significant digits (the peers' setting).
pub(super) fn histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant histogram bounds")
}

impl Tally {
    fn new(warmup: u64) -> Tally {
        Tally {
            wire: histogram(),
            wire_to_recv: histogram(),
            stages: StageRecorder::new(),
            msgs: 0,
            events: 0,
            first_ns: 0,
            last_ns: 0,
            dropped: 0,
            gaps: 0,
            resyncs: 0,
            decode_errors: 0,
            snapshots: 0,
            unstamped: 0,
            digest: 0,
            end: End::Stopped,
            warmup,
        }
    }

    /// A tally of nothing (an inline consumer that never handed one over).
    pub(super) fn empty(warmup: u64) -> Tally {
        Tally::new(warmup)
    }

    /// Seconds from the first to the last consumed message.
    pub(super) fn secs(&self) -> f64 {
        self.last_ns.saturating_sub(self.first_ns) as f64 / 1e9
    }

    /// Messages per second over [`Tally::secs`] (`(msgs − 1) / secs`, as the peers compute it).
    pub(super) fn rate(&self) -> f64 {
        let secs = self.secs();
        if secs > 0.0 {
            self.msgs.saturating_sub(1) as f64 / secs
        } else {
            0.0
        }
    }

    /// Records one message. `ev` by value: see [`consume`] on keeping events out of memory.
    #[inline]
    fn record(&mut self, ev: Event, stages: bool) {
        let now = clock::now_ns();
        if self.msgs == 0 {
            self.first_ns = now;
        }
        self.last_ns = now;
        self.msgs += 1;
        if self.msgs <= self.warmup {
            return;
        }
        if ev.exchange_ts == 0 {
            self.unstamped += 1;
        } else {
            self.wire
                .saturating_record(now.saturating_sub(ev.exchange_ts).max(1));
            if ev.recv_ts != 0 {
                self.wire_to_recv
                    .saturating_record(ev.recv_ts.saturating_sub(ev.exchange_ts).max(1));
            }
        }
        if stages {
            record_stages(&mut self.stages, ev, now);
        }
    }

    /// Returns whether the run is over.
    #[cold]
    fn status(&mut self, s: Option<Status>, connected: &mut bool) -> bool {
        let Some(s) = s else {
            return false;
        };
        match s.kind {
            StatusKind::Connected => *connected = true,
            StatusKind::Disconnected | StatusKind::Reconnecting => {
                self.end = End::Disconnected {
                    reason: Reason::from_code(s.reason).unwrap_or(Reason::None),
                    was_connected: *connected,
                };
                return true;
            }
            StatusKind::Overflow => self.dropped += s.value,
            StatusKind::Gap => self.gaps += 1,
            StatusKind::Resync => self.resyncs += 1,
            StatusKind::DecodeError => self.decode_errors += 1,
            _ => {}
        }
        false
    }
}

/// The consumer-side stages of one message (out of line: it takes the event by reference).
#[inline(never)]
fn record_stages(stages: &mut StageRecorder, ev: Event, now: u64) {
    stages.record(&ev, now);
}

/// The price mantissa of a level or trade (0 otherwise), for the digest.
#[inline]
fn price_bits(ev: &Event) -> u64 {
    let price = match ev.kind() {
        EventKind::BookLevel => ev.as_level().map(|l| l.price),
        EventKind::Trade => ev.as_trade().map(|t| t.price),
        _ => None,
    };
    price.map_or(0, |p| p.mantissa() as u64)
}

/// How the consumer runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Options {
    /// Stop after this many messages.
    pub(super) count: u64,
    /// Messages not recorded at the start.
    pub(super) warmup: u64,
    /// Record the consumer-side stage histograms per message.
    pub(super) stages: bool,
    /// Empty polls spun through before yielding the core on each further one.
    pub(super) spins: u32,
}

/// Counts one event; returns whether the run is over.
#[inline(always)]
fn take(
    t: &mut Tally,
    ev: &Event,
    count: u64,
    stages: bool,
    shared: &Shared,
    connected: &mut bool,
) -> bool {
    t.events += 1;
    // Only the kind and flags of most events are read; like the peers' consumers, a few
    // fields of each message (its last event) go into the digest.
    let flags = ev.flags;
    let counted = match ev.kind() {
        EventKind::BookLevel if flags.contains(Flags::SNAPSHOT) => {
            if flags.contains(Flags::LAST_IN_BATCH) {
                t.snapshots += 1;
            }
            false
        }
        EventKind::BookLevel => flags.contains(Flags::LAST_IN_BATCH),
        EventKind::Trade | EventKind::Bbo => true,
        EventKind::Status => return t.status(ev.as_status(), connected),
    };
    if counted {
        t.digest = t.digest.wrapping_add(ev.seq ^ price_bits(ev));
        t.record(*ev, stages);
        if t.msgs % PROGRESS_EVERY == 0 {
            shared.progress.store(t.msgs, Ordering::Relaxed);
        }
        if t.msgs >= count {
            t.end = End::Count;
            return true;
        }
    }
    false
}

/// Consumes until `count` messages, a disconnect, the engine's end or a stop request.
pub(super) fn consume(mut ring: Consumer, o: Options, shared: &Arc<Shared>) -> Tally {
    let Options {
        count,
        warmup,
        stages,
        spins,
    } = o;
    let mut t = Tally::new(warmup);
    let mut connected = false;
    let mut idle = 0u32;
    let mut done = false;
    while !done {
        // Whole batches: the read position is published once per batch, not per event.
        let taken = ring.drain(usize::MAX, |ev| {
            done = take(&mut t, ev, count, stages, shared, &mut connected);
            !done
        });
        if taken > 0 {
            idle = 0;
            continue;
        }
        if shared.stop.load(Ordering::Relaxed) {
            t.end = End::Stopped;
            break;
        }
        if ring.is_abandoned() && ring.is_empty() {
            t.end = End::EngineStopped;
            break;
        }
        if idle < spins {
            idle += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    shared.progress.store(t.msgs, Ordering::Relaxed);
    t
}

/// Where an [`Inline`] consumer leaves its tally: when the run is over, or when the engine
/// drops it (stopped, timed out).
pub(super) type TallySlot = Arc<Mutex<Option<Tally>>>;

/// `--inline`: the consumer loop's counting as an inline consumer, on the I/O thread.
pub(super) struct Inline {
    tally: Option<Tally>,
    options: Options,
    connected: bool,
    shared: Arc<Shared>,
    out: TallySlot,
}

impl Inline {
    /// A consumer that counts like [`consume`] and leaves its tally in the returned slot.
    pub(super) fn new(options: Options, shared: Arc<Shared>) -> (Inline, TallySlot) {
        let out = TallySlot::default();
        let inline = Inline {
            tally: Some(Tally::new(options.warmup)),
            options,
            connected: false,
            shared,
            out: out.clone(),
        };
        (inline, out)
    }

    /// Hands the tally over (once).
    #[cold]
    fn post(&mut self, end: Option<End>) {
        if let Some(mut t) = self.tally.take() {
            if let Some(end) = end {
                t.end = end;
            }
            self.shared.progress.store(t.msgs, Ordering::Relaxed);
            *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
        }
    }
}

impl InlineConsumer for Inline {
    #[inline]
    fn on_events(&mut self, events: &[Event]) {
        let Some(t) = self.tally.as_mut() else {
            return;
        };
        let o = self.options;
        for ev in events {
            if take(t, ev, o.count, o.stages, &self.shared, &mut self.connected) {
                return self.post(None);
            }
        }
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        // The engine let go before the run was over.
        let end = if self.shared.stop.load(Ordering::Relaxed) {
            End::Stopped
        } else {
            End::EngineStopped
        };
        self.post(Some(end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::event::Level;
    use tickwire_engine::ring::channel;
    use tickwire_engine::{Decimal, InstrumentId, Side};

    fn opts(count: u64, warmup: u64, stages: bool) -> Options {
        Options {
            count,
            warmup,
            stages,
            spins: 8,
        }
    }

    fn level(seq: u64, flags: Flags, exchange_ts: u64) -> Event {
        let l = Level {
            side: Side::Buy,
            price: Decimal::from_parts(100, 2),
            qty: Decimal::from_parts(5, 0),
            seq,
        };
        Event::level(InstrumentId(0), l, flags, exchange_ts, exchange_ts + 10).unwrap()
    }

    fn status(kind: StatusKind, reason: Reason, value: u64) -> Event {
        let s = Status {
            kind,
            reason: reason.code(),
            value,
            connection: 1,
        };
        Event::status(InstrumentId::NONE, s, 1)
    }

    #[test]
    fn counts_one_message_per_batch_and_stops_at_a_disconnect() {
        let (mut p, c) = channel(64);
        let now = clock::now_ns();
        p.push(status(StatusKind::Connected, Reason::None, 1));
        // A snapshot run (not counted), two diffs of two and one levels, an overflow.
        p.push(level(1, Flags::SNAPSHOT, 0));
        p.push(level(1, Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH), 0));
        p.push(level(2, Flags::EMPTY, now));
        p.push(level(2, Flags::LAST_IN_BATCH, now));
        p.push(status(StatusKind::Overflow, Reason::Backpressure, 7));
        p.push(level(3, Flags::LAST_IN_BATCH, now));
        p.push(status(StatusKind::Disconnected, Reason::PeerClosed, 0));
        let shared = Arc::new(Shared::default());
        let t = consume(c, opts(100, 1, true), &shared);
        assert_eq!(t.msgs, 2);
        assert_eq!(t.wire.len(), 1, "the first message is warm-up");
        assert_eq!((t.snapshots, t.dropped, t.events), (1, 7, 8));
        assert_eq!(
            t.end,
            End::Disconnected {
                reason: Reason::PeerClosed,
                was_connected: true
            }
        );
        assert_eq!(shared.progress.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn inline_counts_as_the_consumer_thread_does_and_hands_its_tally_over() {
        let now = clock::now_ns();
        let events = [
            status(StatusKind::Connected, Reason::None, 1),
            level(1, Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH), 0),
            level(2, Flags::EMPTY, now),
            level(2, Flags::LAST_IN_BATCH, now),
            status(StatusKind::Overflow, Reason::Backpressure, 7),
            level(3, Flags::LAST_IN_BATCH, now),
            status(StatusKind::Disconnected, Reason::PeerClosed, 0),
        ];
        let shared = Arc::new(Shared::default());
        let (mut inline, out) = Inline::new(opts(100, 1, true), shared.clone());
        inline.on_events(&events[..3]);
        assert!(out.lock().unwrap().is_none());
        inline.on_events(&events[3..]);
        let t = out.lock().unwrap().take().unwrap();
        assert_eq!((t.msgs, t.wire.len(), t.snapshots, t.events), (2, 1, 1, 7));
        assert_eq!(
            t.end,
            End::Disconnected {
                reason: Reason::PeerClosed,
                was_connected: true
            }
        );
        // At count, and when dropped before the end.
        let (mut inline, out) = Inline::new(opts(1, 0, false), shared.clone());
        inline.on_events(&[
            level(1, Flags::LAST_IN_BATCH, 5),
            level(2, Flags::LAST_IN_BATCH, 5),
        ]);
        assert_eq!(
            out.lock().unwrap().as_ref().map(|t| (t.msgs, t.end)),
            Some((1, End::Count))
        );
        let (inline, out) = Inline::new(opts(10, 0, false), shared);
        drop(inline);
        assert_eq!(
            out.lock().unwrap().as_ref().map(|t| t.end),
            Some(End::EngineStopped)
        );
    }

    #[test]
    fn stops_at_count_and_when_the_engine_is_gone() {
        let (mut p, c) = channel(64);
        for i in 0..10 {
            p.push(level(i, Flags::LAST_IN_BATCH, 5));
        }
        let t = consume(c, opts(4, 0, false), &Arc::new(Shared::default()));
        assert_eq!((t.msgs, t.end), (4, End::Count));
        let (mut p, c) = channel(8);
        p.push(level(1, Flags::LAST_IN_BATCH, 5));
        drop(p);
        let t = consume(c, opts(4, 0, false), &Arc::new(Shared::default()));
        assert_eq!((t.msgs, t.end), (1, End::EngineStopped));
    }
}
