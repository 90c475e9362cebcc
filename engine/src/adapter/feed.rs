//! [`FeedHandler`]: runs any [`FeedAdapter`] on an engine connection.

use std::collections::VecDeque;

use super::stale::{Seen, StaleDetector, StaleMode, StreamKind, status_value};
use super::{
    BookSnapshot, DecodeStats, DiffIds, FeedAdapter, Frame, ResyncPolicy, SeqCheck, SnapshotSource,
    SnapshotStart,
};
use crate::book::{Book, BookConfig};
use crate::event::{
    Event, EventKind, Flags, Level, MAX_EVENT_SCALE, Side, Status, StatusKind, TradeId,
};
use crate::handler::{Context, Message, Reconnect, RingKey, SendError, WsHandler};
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// Tuning of a [`FeedHandler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// Keep a validating book per instrument on the I/O thread (levels are applied before
    /// they are published; a level the book rejects triggers a resync).
    pub validate_books: bool,
    /// Least time between two snapshot requests of one book, ns: every request (after a gap,
    /// a snapshot too old or one that could not be installed, a failed request) goes through
    /// one backoff that starts here, doubles up to the max (with up to a quarter of jitter
    /// taken off), and starts again only after the book synced.
    pub snapshot_retry_ns: u64,
    /// Longest delay between snapshot attempts, ns.
    pub snapshot_retry_max_ns: u64,
    /// Longest a book may wait, once it buffers diffs, for a snapshot that lines up with the
    /// stream, ns (e.g. every snapshot ahead of the stream, or requests that keep failing).
    /// On expiry a `SnapshotFailed` status (reason `sync_timeout`) is published, a held
    /// snapshot is dropped and a new one is fetched through the backoff; the bound restarts.
    pub snapshot_sync_timeout_ns: u64,
    /// How often the snapshot source is polled while a request is in flight, ns (the I/O
    /// thread sleeps in between in the blocking profile).
    pub snapshot_poll_ns: u64,
    /// Most events buffered per instrument while a snapshot is awaited. Beyond it the buffer
    /// is dropped (counted); the snapshot then proves too old and is fetched again.
    pub max_buffered_events: usize,
    /// Most events a standby handler logs before [`FeedHandler::take_over`]; beyond it the
    /// take-over falls back to a resync of every book.
    pub max_standby_events: usize,
    /// Decode scratch capacity (events of one message) reserved up front.
    pub scratch_events: usize,
    /// How long subscription requests may go unacknowledged, ns, counted from the last
    /// request sent or ack received; then they are reported as one `SubscriptionError`
    /// (reason `AckTimeout`, value: how many) and forgotten.
    pub ack_timeout_ns: u64,
    /// Per-stream stale detection (instrument × trade, book, BBO): off, a fixed silence, or
    /// adaptive (each stream's own inter-arrival history, above the venue's documented
    /// floor, below the connection's fixed limit). A stale stream publishes `Stale` for its
    /// instrument (a book also `Resync`); one that comes back, `Resumed`; when every judged
    /// stream of the connection is stale, it is recycled at once.
    pub stale: StaleMode,
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig {
            validate_books: true,
            snapshot_retry_ns: 250_000_000,
            snapshot_retry_max_ns: 10_000_000_000,
            snapshot_sync_timeout_ns: 30_000_000_000,
            snapshot_poll_ns: 2_000_000,
            max_buffered_events: 1 << 20,
            max_standby_events: 1 << 22,
            scratch_events: 4096,
            ack_timeout_ns: 10_000_000_000,
            stale: StaleMode::default(),
        }
    }
}

/// Counters of a [`FeedHandler`] (plus its adapter's [`DecodeStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Data messages received.
    pub messages: u64,
    /// Events published.
    pub published: u64,
    /// Frames that failed to decode (each published as a `DecodeError` status).
    pub decode_errors: u64,
    /// Subscription acknowledgements.
    pub acks: u64,
    /// Subscription errors (each published as a `SubscriptionError` status).
    pub subscription_errors: u64,
    /// Messages of unknown type.
    pub unknown_messages: u64,
    /// Control messages without data.
    pub control_messages: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Resync statuses published (gaps, book errors, disconnects).
    pub resyncs: u64,
    /// Diffs skipped as already covered.
    pub stale_diffs: u64,
    /// Diffs for an instrument without a tracked book (dropped).
    pub untracked_diffs: u64,
    /// Snapshots requested.
    pub snapshots_requested: u64,
    /// Snapshots installed (published as SNAPSHOT runs).
    pub snapshots_applied: u64,
    /// Snapshots that failed, were malformed, crossed, or were too old for the buffered
    /// diffs, and books whose sync timed out (each published as a `SnapshotFailed` status).
    pub snapshot_failures: u64,
    /// Books that waited past `snapshot_sync_timeout_ns` for a usable snapshot (also counted
    /// in `snapshot_failures`).
    pub sync_timeouts: u64,
    /// Levels the validating book rejected (each followed by a resync).
    pub book_errors: u64,
    /// Diffs after which the validating book was crossed (each resynced: a Binance diff
    /// message is atomic, so a crossed book means updates were lost).
    pub crossed: u64,
    /// Buffers dropped for exceeding `max_buffered_events`.
    pub buffer_overflows: u64,
    /// Venue-requested rotations.
    pub rotations: u64,
    /// Frames that could not be queued (connection not live or outbox full); retried.
    pub send_retries: u64,
    /// Trades and BBOs skipped after a take-over because the old connection published them.
    pub duplicates: u64,
    /// Subscription requests given up on after the ack timeout.
    pub ack_timeouts: u64,
    /// Books republished as SNAPSHOT runs after a consumer ring dropped events (the consumers'
    /// books were invalidated by the `Overflow` status; this makes them valid again).
    pub republished: u64,
    /// Streams declared stale (each published as a `Stale` status for its instrument).
    pub stale_streams: u64,
    /// Stale streams that delivered again (each published as `Resumed`).
    pub resumed_streams: u64,
    /// Connections recycled because every judged stream was stale.
    pub stale_recycles: u64,
    /// Books whose checksum did not match the venue's (each published as a `Checksum`
    /// status, then resynced).
    pub checksum_failures: u64,
    /// Checksums compared (and matched or not).
    pub checksums_checked: u64,
    /// Sequence resets the venue announced (the book replaced by the resetting message).
    pub resets: u64,
    /// Per-instrument resubscribes sent to resync a book.
    pub resubscribes: u64,
    /// Request frames held back by the connection's request budget (sent later).
    pub budget_waits: u64,
    /// Application-level pongs received.
    pub pongs: u64,
    /// Connections recycled because an application pong did not come in time.
    pub pong_timeouts: u64,
    /// The adapter's decode counters.
    pub decode: DecodeStats,
}

/// The last ids published per instrument, for exactly-once switching between connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// Last plain trade id per instrument index (0: none).
    pub trades: Vec<u64>,
    /// Last aggregated trade id per instrument index (0: none).
    pub agg_trades: Vec<u64>,
    /// Last BBO update id per instrument index (0: none).
    pub bbos: Vec<u64>,
    /// Last applied diff per instrument index, for books in sync.
    pub books: Vec<Option<DiffIds>>,
    /// Keys ([`TradeId::key`]) of the last [`RECENT_TRADE_IDS`] trades whose ids are not
    /// ordered numbers (UUIDs, hashed text), any instrument: such trades are deduplicated by
    /// membership, not by comparison.
    pub recent_trades: Vec<u64>,
    /// Next slot of `recent_trades` to overwrite once it is full.
    recent_next: usize,
    /// `recent_trades` is sorted (a hand-over's copy): searched by bisection.
    recent_sorted: bool,
}

/// How many unordered trade ids a handler remembers for a hand-over (a new connection lags
/// the old one by far fewer trades).
pub const RECENT_TRADE_IDS: usize = 4096;

/// Whether a trade event's id is unordered (a UUID or a hash).
#[inline]
fn unordered_id(e: &Event) -> bool {
    e.flags.0 & (Flags::UUID_ID.0 | Flags::HASHED_ID.0) != 0
}

impl Watermarks {
    fn with_len(n: usize) -> Watermarks {
        Watermarks {
            trades: vec![0; n],
            agg_trades: vec![0; n],
            bbos: vec![0; n],
            books: vec![None; n],
            recent_trades: Vec::new(),
            recent_next: 0,
            recent_sorted: false,
        }
    }

    /// Sorts the unordered trade ids for bisection (a hand-over's copy; control path).
    fn seal(&mut self) {
        self.recent_trades.sort_unstable();
        self.recent_sorted = true;
    }

    /// Whether `e` was already published under these watermarks (trades and BBOs only).
    fn covers(&self, e: &Event) -> bool {
        let i = e.instrument.index();
        if e.kind() == EventKind::Trade && unordered_id(e) {
            let key = e.trade_id().map_or(e.seq, TradeId::key);
            return if self.recent_sorted {
                self.recent_trades.binary_search(&key).is_ok()
            } else {
                self.recent_trades.contains(&key)
            };
        }
        let mark = match e.kind() {
            EventKind::Trade if e.flags.contains(Flags::AGGREGATED) => self.agg_trades.get(i),
            EventKind::Trade => self.trades.get(i),
            EventKind::Bbo => self.bbos.get(i),
            _ => None,
        };
        mark.is_some_and(|&m| m != 0 && e.seq <= m)
    }

    #[inline]
    fn record(&mut self, e: &Event) {
        let i = e.instrument.index();
        if e.kind() == EventKind::Trade && unordered_id(e) {
            self.record_unordered(e);
            return;
        }
        let slot = match e.kind() {
            EventKind::Trade if e.flags.contains(Flags::AGGREGATED) => self.agg_trades.get_mut(i),
            EventKind::Trade => self.trades.get_mut(i),
            EventKind::Bbo => self.bbos.get_mut(i),
            _ => None,
        };
        if let Some(m) = slot {
            *m = e.seq;
        }
    }

    fn record_unordered(&mut self, e: &Event) {
        let key = e.trade_id().map_or(e.seq, TradeId::key);
        if self.recent_trades.len() < RECENT_TRADE_IDS {
            // Grows once to its bound (the first such trades), then overwrites in place.
            self.recent_trades
                .reserve_exact(RECENT_TRADE_IDS - self.recent_trades.len());
            self.recent_trades.push(key);
        } else {
            self.recent_trades[self.recent_next] = key;
            self.recent_next = (self.recent_next + 1) % RECENT_TRADE_IDS;
        }
        self.recent_sorted = false;
    }
}

/// What a [`FeedHandler::take_over`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandoverReport {
    /// Books carried over and joined at an aligned diff of the log.
    pub joined: usize,
    /// Books carried over whose joining diff is still to come (the log ended exactly at the
    /// old book's last id); the next diff joins them.
    pub joining: usize,
    /// Books that could not be joined and were resynced from a snapshot.
    pub resynced: usize,
    /// Logged events already published by the old connection (skipped).
    pub duplicates: u64,
    /// Logged events published by the take-over.
    pub published: u64,
    /// The standby log overflowed: every book was resynced.
    pub overflowed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncState {
    /// Not connected, or connected and no diff seen yet.
    Idle,
    /// Diffs are buffered until a snapshot they line up with is installed.
    Buffering,
    /// Carried over from another connection: the next diff must join the book's last ids.
    Joining,
    /// In sync: each diff must chain onto the last.
    Live,
}

#[derive(Clone, Copy, Debug)]
struct Buffered {
    ids: DiffIds,
    checksum: Option<u32>,
    start: u32,
    len: u32,
}

/// Sync state of one instrument's book.
struct BookSync {
    instrument: InstrumentId,
    state: SyncState,
    book: Book,
    last: DiffIds,
    /// A snapshot request is in flight.
    requested: bool,
    /// No snapshot request before this (the backoff; 0: as soon as possible).
    retry_at: u64,
    /// The backoff's next delay.
    retry_delay: u64,
    /// When the last request was sent.
    last_request_at: u64,
    /// The handler timer was last armed with this book's `retry_at` in view (a request that
    /// must wait then needs no new arming).
    deferred: bool,
    /// While buffering: when the wait for a usable snapshot times out (0: not waiting).
    sync_deadline: u64,
    /// An in-band snapshot is on its way (the book was subscribed or resubscribed since the
    /// last one).
    inband_expected: bool,
    /// Jitter state (xorshift).
    rng: u64,
    pending: Option<BookSnapshot>,
    diffs: Vec<Buffered>,
    events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Publishing.
    Active,
    /// Second connection of a make-before-break rotation: log everything, publish nothing.
    Standby,
    /// Replaced by another connection: ignore everything.
    Retired,
}

#[derive(Clone, Copy, Debug)]
enum LogItem {
    Market {
        start: u32,
        len: u32,
    },
    Diff {
        slot: u32,
        ids: DiffIds,
        checksum: Option<u32>,
        start: u32,
        len: u32,
    },
    Snapshot {
        slot: u32,
        ids: DiffIds,
        checksum: Option<u32>,
        start: u32,
        len: u32,
    },
}

/// Runs a [`FeedAdapter`] as a [`WsHandler`]. See the module docs of [`crate::adapter`].
pub struct FeedHandler<A: FeedAdapter> {
    adapter: A,
    snapshots: Box<dyn SnapshotSource>,
    config: FeedConfig,
    mode: Mode,
    scratch: Vec<Event>,
    books: Vec<BookSync>,
    /// Book slot per instrument index (`u32::MAX`: none).
    slot_of: Vec<u32>,
    marks: Watermarks,
    outbox: VecDeque<Vec<u8>>,
    next_send_at: u64,
    next_ping_at: u64,
    connection: u32,
    log: Vec<LogItem>,
    log_events: Vec<Event>,
    log_overflow: bool,
    /// After a take-over: what the old connection published, and until when (ns) to skip
    /// trades and BBOs it covers (this connection may lag the old one a little).
    carried: Option<(Watermarks, u64)>,
    /// When unacknowledged requests time out (0: none pending).
    ack_deadline: u64,
    /// `FeedAdapter::pending_acks` when last looked at.
    seen_pending: usize,
    /// `Context::lost` when last looked at.
    seen_lost: u64,
    /// Per consumer ring: drops seen, and the books still to republish to it.
    ring_marks: Vec<RingMark>,
    /// A consumer lost events: republish the books to it once its ring has room.
    republish: bool,
    /// The run a snapshot (installed or republished) is built in, kept for the next one.
    snapshot_run: Vec<Event>,
    /// Levels of the deepest book's republished run (both sides full), 0 without books.
    deepest_run: usize,
    /// Per-stream stale detection (checked from the handler timer).
    stale: StaleDetector,
    /// When the request frames of this session were sent, oldest first, up to the adapter's
    /// [`super::Pacing::budget`] (a sliding window; empty without a budget).
    sent_at: VecDeque<u64>,
    /// An application ping is unanswered: its pong is due by then (0: none outstanding).
    pong_deadline: u64,
    stats: FeedStats,
}

const NO_SLOT: u32 = u32::MAX;

/// Recovery state of one consumer ring (see [`FeedHandler::recover_from_drops`]).
#[derive(Clone, Copy, Debug)]
struct RingMark {
    key: RingKey,
    /// The ring's `lost` when its current round began (or when first seen).
    lost: u64,
    /// Next book slot to republish to it; `usize::MAX`: none.
    next: usize,
}

/// Fills `run` with a book's levels as a SNAPSHOT run: every level flagged `SNAPSHOT`, the
/// first also `RUN_START` (a consumer book starts a snapshot only there), the last also
/// `LAST_IN_BATCH`; an empty book is one zero-quantity level, which still tells consumers to
/// clear. Levels that do not fit an event are left out.
fn snapshot_run(
    run: &mut Vec<Event>,
    instrument: InstrumentId,
    seq: u64,
    exchange_ts: u64,
    now: u64,
    levels: impl Iterator<Item = (Side, (crate::Decimal, crate::Decimal))>,
) {
    run.clear();
    let mut push = |side, price, qty| {
        let level = Level {
            side,
            price,
            qty,
            seq,
        };
        if let Ok(e) = Event::level(instrument, level, Flags::SNAPSHOT, exchange_ts, now) {
            run.push(e);
        }
    };
    let mut any = false;
    for (side, (price, qty)) in levels {
        any = true;
        push(side, price, qty);
    }
    if !any {
        push(Side::Buy, crate::Decimal::ZERO, crate::Decimal::ZERO);
    }
    if let Some(first) = run.first_mut() {
        first.flags = first.flags.with(Flags::RUN_START);
    }
    if let Some(last) = run.last_mut() {
        last.flags = last.flags.with(Flags::LAST_IN_BATCH);
    }
}

/// How soon a republish waiting for congested rings is tried again without new messages.
const REPUBLISH_RETRY_NS: u64 = 1_000_000;

/// How long after a take-over trades and BBOs are checked against the old connection's
/// watermarks (the new connection's lag behind the old one is far shorter).
const CARRY_MARKS_NS: u64 = 60_000_000_000;

impl<A: FeedAdapter> FeedHandler<A> {
    /// A handler that publishes what `adapter` decodes, fetching book snapshots from
    /// `snapshots`.
    pub fn new(adapter: A, snapshots: Box<dyn SnapshotSource>, config: FeedConfig) -> Self {
        let specs = adapter.books();
        let max_index = adapter
            .instruments()
            .iter()
            .chain(specs.iter().map(|s| &s.instrument))
            .filter(|i| **i != InstrumentId::NONE)
            .map(|i| i.index() + 1)
            .max()
            .unwrap_or(0);
        // A snapshot run of the deepest book fits without growing on the I/O thread.
        let max_run = specs
            .iter()
            .map(|s| 2 * s.config.depth.max(1) + 1)
            .max()
            .unwrap_or(0);
        let mut slot_of = vec![NO_SLOT; max_index];
        let mut books = Vec::with_capacity(specs.len());
        for spec in specs {
            let Some(s) = slot_of.get_mut(spec.instrument.index()) else {
                continue;
            };
            if *s != NO_SLOT {
                continue;
            }
            *s = books.len() as u32;
            books.push(BookSync::new(spec.instrument, spec.config, &config));
        }
        let ceiling = adapter.heartbeat().stale_after_ns;
        let budget = adapter.pacing().budget.map_or(0, |b| b.requests as usize);
        let mut h = FeedHandler {
            adapter,
            snapshots,
            config,
            mode: Mode::Active,
            scratch: Vec::with_capacity(config.scratch_events),
            books,
            slot_of,
            marks: Watermarks::with_len(max_index),
            outbox: VecDeque::new(),
            next_send_at: 0,
            next_ping_at: 0,
            connection: 0,
            log: Vec::new(),
            log_events: Vec::new(),
            log_overflow: false,
            carried: None,
            ack_deadline: 0,
            seen_pending: 0,
            seen_lost: 0,
            ring_marks: Vec::with_capacity(8),
            republish: false,
            snapshot_run: Vec::with_capacity(max_run),
            deepest_run: max_run.saturating_sub(1),
            stale: StaleDetector::new(config.stale, ceiling),
            sent_at: VecDeque::with_capacity(budget),
            pong_deadline: 0,
            stats: FeedStats::default(),
        };
        h.track_streams();
        h
    }

    /// Gives the stale detector the streams the adapter names now. Control path.
    fn track_streams(&mut self) {
        let mut instruments = self.adapter.instruments();
        instruments.extend(self.books.iter().map(|b| b.instrument));
        let adapter = &self.adapter;
        self.stale
            .set_streams(&instruments, |i, kind| adapter.cadence(i, kind));
    }

    /// The stale detector (limits per stream, streams stale now).
    pub fn stale_detector(&self) -> &StaleDetector {
        &self.stale
    }

    /// A handler for the second connection of a make-before-break rotation: it subscribes
    /// and logs everything it decodes but publishes nothing until [`FeedHandler::take_over`].
    pub fn standby(adapter: A, snapshots: Box<dyn SnapshotSource>, config: FeedConfig) -> Self {
        let mut h = FeedHandler::new(adapter, snapshots, config);
        h.mode = Mode::Standby;
        h
    }

    /// The adapter.
    pub fn adapter(&self) -> &A {
        &self.adapter
    }

    /// The adapter, mutably (e.g. to build subscribe frames outside a callback).
    pub fn adapter_mut(&mut self) -> &mut A {
        &mut self.adapter
    }

    /// Counters, the adapter's decode counters included.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            decode: self.adapter.decode_stats(),
            ..self.stats
        }
    }

    /// The validating book of `instrument`, if tracked.
    pub fn book(&self, instrument: InstrumentId) -> Option<&Book> {
        self.slot(instrument).map(|s| &self.books[s].book)
    }

    /// Whether `instrument`'s book is in sync (valid and live).
    pub fn in_sync(&self, instrument: InstrumentId) -> bool {
        self.slot(instrument)
            .is_some_and(|s| self.books[s].state == SyncState::Live)
    }

    /// The ids published so far, per instrument.
    pub fn watermarks(&self) -> Watermarks {
        let mut w = self.marks.clone();
        for b in &self.books {
            if let Some(m) = w.books.get_mut(b.instrument.index()) {
                *m = matches!(b.state, SyncState::Live | SyncState::Joining).then_some(b.last);
            }
        }
        w
    }

    /// Subscribes at run time: the frames are queued and paced like the connect frames. A
    /// book the adapter now names (a depth channel) gets its sync slot here, so its diffs
    /// are synced like those of the books it started with.
    pub fn subscribe(&mut self, subs: &[A::Subscription], cx: &mut Context<'_>) {
        let mut frames = Vec::new();
        self.adapter.subscribe(subs, &mut frames);
        self.track_books(cx.now());
        self.track_streams();
        // Instruments added at run time get watermarks too, so a take-over skips what the
        // old connection already published of them.
        let n = self
            .adapter
            .instruments()
            .iter()
            .filter(|i| **i != InstrumentId::NONE)
            .map(|i| i.index() + 1)
            .max()
            .unwrap_or(0);
        if n > self.marks.trades.len() {
            let m = &mut self.marks;
            m.trades.resize(n, 0);
            m.agg_trades.resize(n, 0);
            m.bbos.resize(n, 0);
            m.books.resize(n, None);
        }
        self.outbox.extend(frames);
        self.flush(cx);
        self.arm_timer(cx);
    }

    /// Unsubscribes at run time (paced like subscriptions). A book the adapter no longer
    /// names stops being tracked, and consumers hear `Resync` (reason `Unsubscribed`) for
    /// it: their copy stops being updated, so it must not stay valid.
    pub fn unsubscribe(&mut self, subs: &[A::Subscription], cx: &mut Context<'_>) {
        let mut frames = Vec::new();
        self.adapter.unsubscribe(subs, &mut frames);
        self.untrack_books(cx);
        self.track_streams();
        self.outbox.extend(frames);
        self.flush(cx);
        self.arm_timer(cx);
    }

    /// Gives every book the adapter names and the handler does not track a slot (reusing
    /// the slot of an earlier subscription of the instrument). Control path: allocates.
    fn track_books(&mut self, now: u64) {
        for spec in self.adapter.books() {
            let i = spec.instrument;
            if i == InstrumentId::NONE || self.slot(i).is_some() {
                continue;
            }
            if self.slot_of.len() <= i.index() {
                self.slot_of.resize(i.index() + 1, NO_SLOT);
            }
            let slot = match self.books.iter().position(|b| b.instrument == i) {
                Some(old) => old,
                None => {
                    self.books.push(BookSync::new(i, spec.config, &self.config));
                    self.books.len() - 1
                }
            };
            self.slot_of[i.index()] = slot as u32;
            // Its subscribe frame is on its way: so is its in-band snapshot.
            self.books[slot].inband_expected = false;
            self.expect_inband(slot, now);
            let run = 2 * spec.config.depth + 1;
            if self.snapshot_run.capacity() < run {
                self.snapshot_run.reserve(run - self.snapshot_run.len());
            }
            self.snapshots.track(i);
        }
    }

    /// Stops tracking the books the adapter no longer names: each goes idle (buffers and
    /// pending snapshot dropped) and, once published, is declared invalid in-band.
    fn untrack_books(&mut self, cx: &mut Context<'_>) {
        let specs = self.adapter.books();
        for slot in 0..self.books.len() {
            let i = self.books[slot].instrument;
            if self.slot(i) != Some(slot) || specs.iter().any(|s| s.instrument == i) {
                continue;
            }
            self.slot_of[i.index()] = NO_SLOT;
            let b = &mut self.books[slot];
            b.state = SyncState::Idle;
            b.requested = false;
            b.retry_at = 0;
            b.pending = None;
            b.diffs.clear();
            b.events.clear();
            b.book.invalidate();
            if self.mode == Mode::Active {
                self.stats.resyncs += 1;
                self.status(i, StatusKind::Resync, Reason::Unsubscribed, 0, cx);
            }
        }
    }

    #[inline]
    fn slot(&self, instrument: InstrumentId) -> Option<usize> {
        match self.slot_of.get(instrument.index()) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    #[inline]
    fn publish(&mut self, e: Event, cx: &mut Context<'_>) {
        self.stats.published += 1;
        cx.publish(e);
    }

    /// One message's events, in one go.
    #[inline]
    fn publish_all(&mut self, events: &[Event], cx: &mut Context<'_>) {
        self.stats.published += events.len() as u64;
        cx.publish_all(events);
    }

    fn status(
        &mut self,
        instrument: InstrumentId,
        kind: StatusKind,
        reason: Reason,
        value: u64,
        cx: &mut Context<'_>,
    ) {
        let e = Event::status(
            instrument,
            Status {
                kind,
                reason: reason.code(),
                value,
                connection: self.connection,
            },
            cx.now(),
        );
        self.publish(e, cx);
    }

    // ---- outbound pacing and timers ----

    fn flush(&mut self, cx: &mut Context<'_>) {
        let pacing = self.adapter.pacing();
        let interval = pacing.min_interval_ns;
        while let Some(frame) = self.outbox.front() {
            let now = cx.now();
            if now < self.next_send_at {
                break;
            }
            if let Some(budget) = pacing.budget {
                let window = budget.window_ns;
                while self
                    .sent_at
                    .front()
                    .is_some_and(|&t| now >= t.saturating_add(window))
                {
                    self.sent_at.pop_front();
                }
                if self.sent_at.len() >= budget.requests.max(1) as usize {
                    // Spent: the next request waits until the oldest leaves the window.
                    let free_at = self
                        .sent_at
                        .front()
                        .map_or(now, |&t| t.saturating_add(window));
                    if self.next_send_at != free_at {
                        self.stats.budget_waits += 1;
                        self.next_send_at = free_at;
                    }
                    break;
                }
            }
            match cx.send_text(frame) {
                Ok(()) => {
                    self.outbox.pop_front();
                    self.next_send_at = now.saturating_add(interval);
                    if pacing.budget.is_some() {
                        self.sent_at.push_back(now);
                    }
                }
                Err(SendError::Full | SendError::NotLive) => {
                    self.stats.send_retries += 1;
                    self.next_send_at = cx.now().saturating_add(interval);
                    break;
                }
            }
        }
    }

    fn arm_timer(&mut self, cx: &mut Context<'_>) {
        self.track_acks(cx);
        let mut next = u64::MAX;
        if !self.outbox.is_empty() {
            next = next.min(self.next_send_at);
        }
        if self.adapter.heartbeat().app_ping.is_some() && self.next_ping_at != 0 {
            next = next.min(self.next_ping_at);
        }
        if self.pong_deadline != 0 {
            next = next.min(self.pong_deadline);
        }
        let inband_only = self.adapter.snapshot_start() == SnapshotStart::InBand;
        let mut in_flight = false;
        for b in &mut self.books {
            in_flight |= b.requested;
            if b.state == SyncState::Buffering {
                // An in-band snapshot needs no timer of its own: the sync deadline bounds it.
                let waits_inband = inband_only && b.inband_expected;
                if !b.requested && b.pending.is_none() && !waits_inband {
                    next = next.min(b.retry_at);
                    b.deferred = true; // the timer covers its retry
                }
                if b.sync_deadline != 0 {
                    next = next.min(b.sync_deadline);
                }
            }
        }
        if in_flight {
            // Answers are picked up on a timer, not every loop turn: the loop can sleep.
            next = next.min(cx.now().saturating_add(self.config.snapshot_poll_ns));
        }
        if self.ack_deadline != 0 {
            next = next.min(self.ack_deadline);
        }
        if self.republish {
            // Look again soon, in case the feed goes quiet while the rings drain.
            next = next.min(cx.now().saturating_add(REPUBLISH_RETRY_NS));
        }
        if self.stale.deadline() != 0 {
            next = next.min(self.stale.deadline());
        }
        if next != u64::MAX {
            cx.set_timer(next);
        }
    }

    // ---- book sync ----

    /// Gets `slot`'s book a snapshot, the venue's way ([`FeedAdapter::snapshot_start`],
    /// [`FeedAdapter::resync_policy`]): a REST request, or a resubscribe that brings one
    /// in-band, each through the book's backoff; or waits, when an in-band snapshot is on
    /// its way; or recycles the connection.
    fn request_snapshot(&mut self, slot: usize, cx: &mut Context<'_>) {
        let policy = self.adapter.resync_policy();
        let start = self.adapter.snapshot_start();
        if policy == ResyncPolicy::Reconnect {
            cx.recycle(Reason::Adapter);
            return;
        }
        let (now, cap) = (cx.now(), self.config.snapshot_retry_max_ns);
        let b = &mut self.books[slot];
        if b.requested {
            return;
        }
        if b.inband_expected && start == SnapshotStart::InBand {
            return; // the sync deadline bounds the wait
        }
        // A book synced in-band resyncs by resubscribing; REST is the start's fallback.
        let resubscribe = policy == ResyncPolicy::Resubscribe
            && start != SnapshotStart::Rest
            && !b.inband_expected;
        if now < b.retry_at {
            // Backing off (or an in-band snapshot's grace): the timer asks later (armed once
            // per wait).
            if !b.deferred {
                b.deferred = true;
                self.arm_timer(cx);
            }
            return;
        }
        let delay = b.retry_delay;
        b.retry_at = now.saturating_add(b.jittered(delay));
        b.retry_delay = delay.saturating_mul(2).min(cap).max(1);
        b.last_request_at = now;
        b.deferred = false;
        if resubscribe {
            let instrument = b.instrument;
            let mut frames = Vec::new(); // resync path, not steady state
            self.adapter.resubscribe(instrument, &mut frames);
            if frames.is_empty() {
                cx.recycle(Reason::Adapter);
                return;
            }
            self.expect_inband(slot, now);
            self.stats.resubscribes += 1;
            self.outbox.extend(frames);
            self.flush(cx);
            self.arm_timer(cx);
            return;
        }
        b.requested = true;
        self.stats.snapshots_requested += 1;
        self.snapshots.request(b.instrument);
        // A source may answer at once (a queue, a capture): look next turn, then on the poll
        // timer.
        cx.request_poll();
    }

    /// `slot`'s book was (re)subscribed at `now`: its snapshot comes in-band. With a REST
    /// fallback, REST is asked only after the grace.
    fn expect_inband(&mut self, slot: usize, now: u64) {
        let start = self.adapter.snapshot_start();
        let b = &mut self.books[slot];
        match start {
            SnapshotStart::Rest => {}
            SnapshotStart::InBand => b.inband_expected = true,
            SnapshotStart::InBandElseRest { grace_ns } => {
                b.inband_expected = true;
                b.retry_at = b.retry_at.max(now.saturating_add(grace_ns));
                b.deferred = false;
            }
        }
    }

    /// Publishes Gap (when `gap`) and Resync, and starts buffering `slot` again.
    fn resync(&mut self, slot: usize, gap: bool, reason: Reason, cx: &mut Context<'_>) {
        let timeout = self.config.snapshot_sync_timeout_ns;
        let (instrument, expected) = {
            let b = &mut self.books[slot];
            b.start_buffering(cx.now(), timeout);
            b.pending = None;
            b.book.invalidate();
            (b.instrument, b.last.last.saturating_add(1))
        };
        if gap {
            self.stats.gaps += 1;
            self.status(instrument, StatusKind::Gap, reason, expected, cx);
        }
        self.stats.resyncs += 1;
        self.status(instrument, StatusKind::Resync, reason, 0, cx);
    }

    /// Follows the unacknowledged requests: any change (a request sent, an ack received)
    /// restarts the ack clock; when it runs out, what is still pending is reported and
    /// forgotten (a venue that never answers must not hold up a rotation forever).
    fn track_acks(&mut self, cx: &mut Context<'_>) {
        let pending = self.adapter.pending_acks();
        if pending == 0 {
            self.ack_deadline = 0;
        } else if pending != self.seen_pending || self.ack_deadline == 0 || !self.outbox.is_empty()
        {
            // Requests still queued by pacing cannot have been answered yet.
            self.ack_deadline = cx.now().saturating_add(self.config.ack_timeout_ns);
        } else if cx.now() >= self.ack_deadline {
            let n = self.adapter.expire_acks();
            self.stats.ack_timeouts += n as u64;
            self.stats.subscription_errors += 1;
            if self.mode == Mode::Active {
                self.status(
                    InstrumentId::NONE,
                    StatusKind::SubscriptionError,
                    Reason::AckTimeout,
                    n as u64,
                    cx,
                );
            }
            self.ack_deadline = 0;
        }
        self.seen_pending = self.adapter.pending_acks();
    }

    /// A consumer ring dropped events: its consumer's books went invalid at the `Overflow`
    /// status. To that consumer alone (other consumers of the connection are not touched),
    /// every synced book goes out as a SNAPSHOT run from the validating book (no venue round
    /// trip), one book at a time as its ring has room for the whole run and the report
    /// before it, so a republished run is never dropped; a new drop on that ring meanwhile
    /// starts its round again. Without validating books, a synced book is resynced from a
    /// fresh snapshot instead (for every consumer: there is nothing to republish from).
    /// A ring first seen here gets no round (nothing is known to be lost).
    fn recover_from_drops(&mut self, cx: &mut Context<'_>) {
        self.seen_lost = cx.lost();
        if self.mode != Mode::Active {
            self.republish = false;
            return;
        }
        let mut waiting = false;
        for i in 0..cx.rings() {
            let Some(ring) = cx.ring(i) else {
                continue;
            };
            let m = match self.ring_marks.iter().position(|m| m.key == ring.key) {
                Some(m) => m,
                None => {
                    self.ring_marks.push(RingMark {
                        key: ring.key,
                        lost: ring.lost,
                        next: usize::MAX,
                    });
                    continue;
                }
            };
            if self.ring_marks[m].lost != ring.lost {
                self.ring_marks[m].lost = ring.lost;
                self.ring_marks[m].next = 0;
            }
            waiting |= self.republish_to(m, cx);
        }
        self.republish = waiting;
        // Drops while republishing (of other events, or by other connections) start again.
        self.seen_lost = cx.lost();
    }

    /// Continues the round of ring mark `m`; returns whether books remain (no room yet).
    fn republish_to(&mut self, m: usize, cx: &mut Context<'_>) -> bool {
        let key = self.ring_marks[m].key;
        while self.ring_marks[m].next < self.books.len() {
            let slot = self.ring_marks[m].next;
            let b = &self.books[slot];
            let synced = matches!(b.state, SyncState::Live | SyncState::Joining);
            if !synced {
                // A snapshot run, to every consumer, follows its sync anyway.
                self.ring_marks[m].next += 1;
                continue;
            }
            if !(self.config.validate_books && b.book.is_valid()) {
                self.resync(slot, false, Reason::Backpressure, cx);
                self.request_snapshot(slot, cx);
                self.ring_marks[m].next += 1;
                continue;
            }
            let run_len = (b.book.bid_len() + b.book.ask_len()).max(1);
            let free = (0..cx.rings())
                .filter_map(|i| cx.ring(i))
                .find(|r| r.key == key)
                .map_or(0, |r| r.free);
            if free <= run_len {
                return true; // the timer (or the next message) tries again
            }
            self.republish_book(slot, key, cx);
            self.ring_marks[m].next += 1;
        }
        self.ring_marks[m].next = usize::MAX;
        false
    }

    fn republish_book(&mut self, slot: usize, key: RingKey, cx: &mut Context<'_>) {
        let mut run = std::mem::take(&mut self.snapshot_run);
        let b = &self.books[slot];
        let sides = b
            .book
            .bids(usize::MAX)
            .map(|l| (Side::Buy, l))
            .chain(b.book.asks(usize::MAX).map(|l| (Side::Sell, l)));
        snapshot_run(&mut run, b.instrument, b.last.last, 0, cx.now(), sides);
        if cx.publish_all_to(key, &run) {
            self.stats.published += run.len() as u64;
            self.stats.republished += 1;
        }
        self.snapshot_run = run;
    }

    fn on_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        match self.books[slot].state {
            SyncState::Idle | SyncState::Buffering => {
                let timeout = self.config.snapshot_sync_timeout_ns;
                self.books[slot].start_buffering(cx.now(), timeout);
                self.buffer(slot, ids, checksum, events);
                if self.books[slot].pending.is_some() {
                    self.try_sync(slot, cx);
                } else {
                    self.request_snapshot(slot, cx);
                }
            }
            SyncState::Live | SyncState::Joining => {
                let b = &self.books[slot];
                let check = if b.state == SyncState::Live {
                    self.adapter.next_diff(&b.last, &ids)
                } else {
                    self.adapter.join_diff(&b.last, &ids)
                };
                match check {
                    SeqCheck::Apply => {
                        self.books[slot].state = SyncState::Live;
                        if !self.apply_diff(slot, ids, checksum, events, cx) {
                            self.request_snapshot(slot, cx);
                        }
                    }
                    SeqCheck::Stale => self.stats.stale_diffs += 1,
                    SeqCheck::Gap => {
                        self.resync(slot, true, Reason::None, cx);
                        self.buffer(slot, ids, checksum, events);
                        self.request_snapshot(slot, cx);
                    }
                    SeqCheck::Reset => {
                        self.stats.resets += 1;
                        self.on_book_snapshot(slot, ids, checksum, events, cx);
                    }
                }
            }
        }
    }

    /// A whole book in-band (or a diff that resets the sequence): it replaces the book
    /// whatever state it was in. Diffs buffered before it are older in stream order and are
    /// dropped. While joining another connection's book, a snapshot not newer than that
    /// book is skipped (the old connection already published past it).
    fn on_book_snapshot(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) {
        let b = &mut self.books[slot];
        if b.state == SyncState::Joining && ids.last <= b.last.last {
            self.stats.stale_diffs += 1;
            return;
        }
        b.diffs.clear();
        b.events.clear();
        b.pending = None;
        b.inband_expected = false;
        match self.install_levels(slot, ids, checksum, events, cx) {
            Ok(()) => self.synced(slot),
            Err(reason) => {
                let timeout = self.config.snapshot_sync_timeout_ns;
                let b = &mut self.books[slot];
                b.book.invalidate();
                b.start_buffering(cx.now(), timeout);
                if reason == Reason::Checksum {
                    self.resync(slot, false, Reason::Checksum, cx);
                } else {
                    self.snapshot_failed(slot, reason, ids.last, cx);
                }
                self.request_snapshot(slot, cx);
            }
        }
    }

    /// A book has synced: its backoff starts again (still no two requests closer than the
    /// first step) and its sync bound stops.
    fn synced(&mut self, slot: usize) {
        let base = self.config.snapshot_retry_ns;
        let b = &mut self.books[slot];
        b.retry_delay = base;
        b.retry_at = b.retry_at.min(b.last_request_at.saturating_add(base));
        b.sync_deadline = 0;
        b.inband_expected = false;
    }

    /// Compares the venue's checksum with the validating book's (when the venue sent one
    /// and books are validated): on a mismatch publishes `Checksum` and returns false.
    fn checksum_ok(&mut self, slot: usize, expected: Option<u32>, cx: &mut Context<'_>) -> bool {
        let Some(expected) = expected else {
            return true;
        };
        if !self.config.validate_books {
            return true;
        }
        let b = &self.books[slot];
        let Some(actual) = self.adapter.book_checksum(b.instrument, &b.book) else {
            return true;
        };
        self.stats.checksums_checked += 1;
        if actual == expected {
            return true;
        }
        self.stats.checksum_failures += 1;
        let instrument = b.instrument;
        if self.mode == Mode::Active {
            let value = u64::from(expected);
            self.status(
                instrument,
                StatusKind::Checksum,
                Reason::Checksum,
                value,
                cx,
            );
        }
        false
    }

    fn buffer(&mut self, slot: usize, ids: DiffIds, checksum: Option<u32>, events: &[Event]) {
        let max = self.config.max_buffered_events;
        let b = &mut self.books[slot];
        if b.events.len() + events.len() > max {
            b.events.clear();
            b.diffs.clear();
            self.stats.buffer_overflows += 1;
        }
        b.diffs.push(Buffered {
            ids,
            checksum,
            start: b.events.len() as u32,
            len: events.len() as u32,
        });
        b.events.extend_from_slice(events);
    }

    /// Applies a diff that passed its sequence check to the validating book and publishes
    /// it. Returns false (after publishing a resync) when the book rejected a level.
    fn apply_diff(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) -> bool {
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            for e in events {
                let ok = e
                    .as_level()
                    .is_some_and(|l| book.apply(l.side, l.price, l.qty).is_ok());
                if !ok {
                    self.stats.book_errors += 1;
                    self.resync(slot, false, Reason::Number, cx);
                    return false;
                }
            }
            book.set_seq(ids.last);
            if book.is_crossed() {
                // A diff message is applied whole, so a crossed book means lost updates.
                self.stats.crossed += 1;
                self.resync(slot, false, Reason::Crossed, cx);
                return false;
            }
        }
        if !self.checksum_ok(slot, checksum, cx) {
            self.resync(slot, false, Reason::Checksum, cx);
            return false;
        }
        self.books[slot].last = ids;
        self.publish_all(events, cx);
        true
    }

    /// With a snapshot pending, drops buffered diffs it covers and, if the next one lines up,
    /// publishes the snapshot run and the buffered diffs after it.
    fn try_sync(&mut self, slot: usize, cx: &mut Context<'_>) {
        let Some(snap_id) = self.books[slot].pending.as_ref().map(|s| s.last_id) else {
            return;
        };
        let mut first = None;
        let mut first_check = SeqCheck::Apply;
        for (i, d) in self.books[slot].diffs.iter().enumerate() {
            match self.adapter.first_diff(snap_id, &d.ids) {
                SeqCheck::Stale => {}
                check @ (SeqCheck::Apply | SeqCheck::Reset) => {
                    first = Some(i);
                    first_check = check;
                    break;
                }
                SeqCheck::Gap => {
                    // Snapshot older than the buffered diffs: fetch a newer one.
                    self.books[slot].pending = None;
                    self.snapshot_failed(slot, Reason::SnapshotTooOld, snap_id, cx);
                    self.request_snapshot(slot, cx);
                    return;
                }
            }
        }
        let Some(first) = first else {
            // Every buffered diff is older than the snapshot: wait for the one that joins it.
            let b = &mut self.books[slot];
            b.diffs.clear();
            b.events.clear();
            return;
        };
        let Some(snap) = self.books[slot].pending.take() else {
            return;
        };
        if let Err(reason) = self.install_snapshot(slot, &snap, cx) {
            self.snapshot_failed(slot, reason, snap.last_id, cx);
            self.request_snapshot(slot, cx);
            return;
        }
        // Apply the buffered diffs from `first` on; a gap among them resyncs again.
        let diffs = std::mem::take(&mut self.books[slot].diffs);
        let events = std::mem::take(&mut self.books[slot].events);
        let mut rest_from = None;
        for (i, d) in diffs.iter().enumerate().skip(first) {
            let evs = &events[d.start as usize..(d.start + d.len) as usize];
            let check = if i == first {
                first_check
            } else {
                self.adapter.next_diff(&self.books[slot].last, &d.ids)
            };
            match check {
                SeqCheck::Apply => {
                    if !self.apply_diff(slot, d.ids, d.checksum, evs, cx) {
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Reset => {
                    self.stats.resets += 1;
                    if self
                        .install_levels(slot, d.ids, d.checksum, evs, cx)
                        .is_err()
                    {
                        self.resync(slot, false, Reason::SequenceReset, cx);
                        rest_from = Some(i + 1);
                        break;
                    }
                }
                SeqCheck::Stale => self.stats.stale_diffs += 1,
                SeqCheck::Gap => {
                    self.resync(slot, true, Reason::None, cx);
                    rest_from = Some(i);
                    break;
                }
            }
        }
        let b = &mut self.books[slot];
        b.diffs = diffs;
        b.events = events;
        match rest_from {
            None => {
                b.diffs.clear();
                b.events.clear();
                self.synced(slot);
            }
            Some(from) => {
                // Keep the diffs after the gap for the next snapshot.
                let keep_from = b
                    .diffs
                    .get(from)
                    .map_or(b.events.len(), |d| d.start as usize);
                b.diffs.drain(..from);
                b.events.drain(..keep_from);
                for d in &mut b.diffs {
                    d.start -= keep_from as u32;
                }
                self.request_snapshot(slot, cx);
            }
        }
    }

    /// Publishes `snap` as a SNAPSHOT run and rebuilds the validating book from it. Fails
    /// (publishing nothing) when a level cannot be carried by an event or the book rejects it
    /// ([`Reason::Number`]), or when the snapshot is crossed ([`Reason::Crossed`]).
    fn install_snapshot(
        &mut self,
        slot: usize,
        snap: &BookSnapshot,
        cx: &mut Context<'_>,
    ) -> Result<(), Reason> {
        let fits = |(p, q): &(crate::Decimal, crate::Decimal)| {
            p.scale() <= MAX_EVENT_SCALE && q.scale() <= MAX_EVENT_SCALE && !q.is_negative()
        };
        if !snap.bids.iter().all(fits) || !snap.asks.iter().all(fits) {
            return Err(Reason::Number);
        }
        // Checked on the levels themselves: with or without a validating book.
        let live = |l: &&(crate::Decimal, crate::Decimal)| !l.1.is_zero();
        let best_bid = snap.bids.iter().filter(live).map(|l| l.0).max();
        let best_ask = snap.asks.iter().filter(live).map(|l| l.0).min();
        if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
            if bid >= ask {
                return Err(Reason::Crossed);
            }
        }
        let instrument = self.books[slot].instrument;
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            book.invalidate();
            for (side, levels) in [(Side::Buy, &snap.bids), (Side::Sell, &snap.asks)] {
                for &(p, q) in levels.iter() {
                    if book.apply(side, p, q).is_err() {
                        book.invalidate();
                        return Err(Reason::Number);
                    }
                }
            }
            book.set_valid(snap.last_id);
        }
        let levels = snap
            .bids
            .iter()
            .map(|l| (Side::Buy, *l))
            .chain(snap.asks.iter().map(|l| (Side::Sell, *l)));
        let mut run = std::mem::take(&mut self.snapshot_run);
        let (seq, ts) = (snap.last_id, snap.exchange_ts);
        snapshot_run(&mut run, instrument, seq, ts, cx.now(), levels);
        self.publish_all(&run, cx);
        self.snapshot_run = run;
        let b = &mut self.books[slot];
        b.last = DiffIds {
            first: snap.last_id,
            last: snap.last_id,
            prev: None,
        };
        b.state = SyncState::Live;
        self.stats.snapshots_applied += 1;
        Ok(())
    }

    /// Installs a book sent in-band (its levels as decoded events, any order, zero
    /// quantities skipped) as a SNAPSHOT run, after the same checks as a REST snapshot
    /// ([`FeedHandler::install_snapshot`]) and the venue's checksum. Publishes nothing on
    /// failure: [`Reason::Number`], [`Reason::Crossed`] or [`Reason::Checksum`] (after a
    /// `Checksum` status).
    fn install_levels(
        &mut self,
        slot: usize,
        ids: DiffIds,
        checksum: Option<u32>,
        events: &[Event],
        cx: &mut Context<'_>,
    ) -> Result<(), Reason> {
        let levels = || {
            events
                .iter()
                .filter_map(Event::as_level)
                .filter(|l| !l.qty.is_zero())
        };
        if levels().any(|l| l.qty.is_negative()) {
            return Err(Reason::Number);
        }
        let best_bid = levels()
            .filter(|l| l.side == Side::Buy)
            .map(|l| l.price)
            .max();
        let best_ask = levels()
            .filter(|l| l.side == Side::Sell)
            .map(|l| l.price)
            .min();
        if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
            if bid >= ask {
                return Err(Reason::Crossed);
            }
        }
        let instrument = self.books[slot].instrument;
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            book.invalidate();
            for l in levels() {
                if book.apply(l.side, l.price, l.qty).is_err() {
                    book.invalidate();
                    return Err(Reason::Number);
                }
            }
            book.set_valid(ids.last);
            if !self.checksum_ok(slot, checksum, cx) {
                self.books[slot].book.invalidate();
                return Err(Reason::Checksum);
            }
        }
        let exchange_ts = events.first().map_or(0, |e| e.exchange_ts);
        let mut run = std::mem::take(&mut self.snapshot_run);
        let sides = levels().map(|l| (l.side, (l.price, l.qty)));
        snapshot_run(&mut run, instrument, ids.last, exchange_ts, cx.now(), sides);
        self.publish_all(&run, cx);
        self.snapshot_run = run;
        let b = &mut self.books[slot];
        b.last = ids;
        b.state = SyncState::Live;
        self.stats.snapshots_applied += 1;
        Ok(())
    }

    /// A snapshot could not be had or used: counted, and reported in-band for `slot`'s
    /// instrument (the book stays invalid; the next request waits for the backoff).
    fn snapshot_failed(&mut self, slot: usize, reason: Reason, value: u64, cx: &mut Context<'_>) {
        self.stats.snapshot_failures += 1;
        if self.mode == Mode::Active {
            let instrument = self.books[slot].instrument;
            self.status(instrument, StatusKind::SnapshotFailed, reason, value, cx);
        }
    }

    /// Picks up finished snapshot requests.
    fn poll_snapshots(&mut self, cx: &mut Context<'_>) {
        while let Some((instrument, result)) = self.snapshots.poll() {
            self.on_snapshot_result(instrument, result, cx);
        }
    }

    /// Books that waited past the sync bound: reported, and fetched again (through the
    /// backoff) instead of waiting on a snapshot that may never line up.
    fn expire_syncs(&mut self, cx: &mut Context<'_>) {
        let (now, timeout) = (cx.now(), self.config.snapshot_sync_timeout_ns);
        for slot in 0..self.books.len() {
            let b = &mut self.books[slot];
            if b.state != SyncState::Buffering || b.sync_deadline == 0 || now < b.sync_deadline {
                continue;
            }
            let held = b.pending.take().map_or(0, |s| s.last_id);
            b.sync_deadline = now.saturating_add(timeout).max(1);
            // The in-band snapshot did not come: the next try resubscribes.
            b.inband_expected = false;
            self.stats.sync_timeouts += 1;
            self.snapshot_failed(slot, Reason::SyncTimeout, held, cx);
        }
    }

    fn on_snapshot_result(
        &mut self,
        instrument: InstrumentId,
        result: Result<BookSnapshot, super::SnapshotError>,
        cx: &mut Context<'_>,
    ) {
        let Some(slot) = self.slot(instrument) else {
            return;
        };
        let b = &mut self.books[slot];
        b.requested = false;
        if b.state != SyncState::Buffering {
            return; // a late answer for a book that is no longer waiting
        }
        match result {
            Ok(snap) => {
                b.pending = Some(snap);
                b.deferred = false;
                self.try_sync(slot, cx);
            }
            Err(e) => {
                // The backoff set at the request holds; a venue's Retry-After extends it.
                b.retry_at = b.retry_at.max(cx.now().saturating_add(e.retry_after_ns()));
                self.snapshot_failed(slot, e.reason(), e.value(), cx);
            }
        }
    }

    // ---- make-before-break ----

    /// Whether this standby handler can take over from one whose watermarks are `old`: every
    /// subscription is acknowledged and, for every book `old` has in sync, this connection's
    /// logged diffs reach back to (or before) the old book's last id, so its own diff chain
    /// passes through the join point. It may still be behind `old`: until it catches up, its
    /// diffs are skipped as stale and its trades and BBOs as duplicates.
    pub fn ready_to_take_over(&self, old: &Watermarks) -> bool {
        self.ready_for(|i| old.books.get(i.index()).copied().flatten())
    }

    /// [`FeedHandler::ready_to_take_over`] from `old` itself (no copy of its watermarks:
    /// called for every message of a standby connection).
    pub fn ready_to_replace(&self, old: &FeedHandler<A>) -> bool {
        self.ready_for(|i| {
            let b = &old.books[old.slot(i)?];
            matches!(b.state, SyncState::Live | SyncState::Joining).then_some(b.last)
        })
    }

    fn ready_for(&self, old_last: impl Fn(InstrumentId) -> Option<DiffIds>) -> bool {
        if self.mode != Mode::Standby || self.adapter.pending_acks() != 0 || self.log_overflow {
            return false;
        }
        self.books.iter().enumerate().all(|(slot, b)| {
            let Some(last) = old_last(b.instrument) else {
                return true;
            };
            let last = &last;
            let first = self.log.iter().find_map(|item| match item {
                LogItem::Diff { slot: s, ids, .. } if *s as usize == slot => Some(Some(ids)),
                LogItem::Snapshot { slot: s, .. } if *s as usize == slot => Some(None),
                _ => None,
            });
            match first {
                // A whole book: it joins whatever the old connection had.
                Some(None) => true,
                Some(Some(ids)) => self.adapter.join_diff(last, ids) != SeqCheck::Gap,
                None => false,
            }
        })
    }

    /// Makes this standby handler the publishing one in place of `old` (same adapter type,
    /// same instruments, same I/O thread): books in sync move over, the log is replayed with
    /// what `old` already published skipped (trades and BBOs by id, book diffs by the
    /// adapter's join rule), and `old` is retired (its connection should then be closed).
    pub fn take_over(&mut self, old: &mut FeedHandler<A>, cx: &mut Context<'_>) -> HandoverReport {
        let mut marks = old.watermarks();
        marks.seal();
        let mut report = HandoverReport {
            overflowed: self.log_overflow,
            ..HandoverReport::default()
        };
        old.mode = Mode::Retired;
        self.mode = Mode::Active;
        self.connection = cx.connection().0;
        for slot in 0..self.books.len() {
            let instrument = self.books[slot].instrument;
            let carried = old.slot(instrument).and_then(|os| {
                let ob = &mut old.books[os];
                matches!(ob.state, SyncState::Live | SyncState::Joining).then(|| {
                    std::mem::swap(&mut ob.book, &mut self.books[slot].book);
                    ob.last
                })
            });
            let b = &mut self.books[slot];
            b.diffs.clear();
            b.events.clear();
            b.pending = None;
            match carried {
                Some(last) if !self.log_overflow => {
                    b.state = SyncState::Joining;
                    b.last = last;
                }
                _ => {
                    b.state = SyncState::Idle;
                    if carried.is_some() {
                        self.resync(slot, false, Reason::Rotation, cx);
                        report.resynced += 1;
                    }
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.marks.trades, &marks.trades),
            (&mut self.marks.agg_trades, &marks.agg_trades),
            (&mut self.marks.bbos, &marks.bbos),
        ] {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m = (*m).max(*t);
            }
        }
        let log = std::mem::take(&mut self.log);
        let log_events = std::mem::take(&mut self.log_events);
        let before = self.stats.published;
        for item in &log {
            match *item {
                LogItem::Market { start, len } => {
                    for e in &log_events[start as usize..(start + len) as usize] {
                        if marks.covers(e) {
                            report.duplicates += 1;
                        } else {
                            self.marks.record(e);
                            self.publish(*e, cx);
                        }
                    }
                }
                LogItem::Diff {
                    slot,
                    ids,
                    checksum,
                    start,
                    len,
                }
                | LogItem::Snapshot {
                    slot,
                    ids,
                    checksum,
                    start,
                    len,
                } => {
                    let evs = &log_events[start as usize..(start + len) as usize];
                    let was_joining = self.books[slot as usize].state == SyncState::Joining;
                    if matches!(item, LogItem::Snapshot { .. }) {
                        self.on_book_snapshot(slot as usize, ids, checksum, evs, cx);
                    } else {
                        self.on_diff(slot as usize, ids, checksum, evs, cx);
                    }
                    let b = &self.books[slot as usize];
                    if was_joining && b.state == SyncState::Live {
                        report.joined += 1;
                    } else if was_joining && b.state != SyncState::Joining {
                        report.resynced += 1;
                    }
                }
            }
        }
        report.published = self.stats.published - before;
        self.carried = Some((marks, cx.now().saturating_add(CARRY_MARKS_NS)));
        report.joining = self
            .books
            .iter()
            .filter(|b| b.state == SyncState::Joining)
            .count();
        self.log = log;
        self.log.clear();
        self.log_events = log_events;
        self.log_events.clear();
        self.log_overflow = false;
        self.arm_timer(cx);
        report
    }

    fn log_item(&mut self, item: LogItem, events: &[Event]) {
        if self.log_overflow
            || self.log_events.len() + events.len() > self.config.max_standby_events
        {
            self.log_overflow = true;
            return;
        }
        self.log.push(item);
        self.log_events.extend_from_slice(events);
    }

    fn handle_frame(&mut self, frame: Frame, events: &[Event], cx: &mut Context<'_>) {
        match frame {
            Frame::Market => {
                if self.mode == Mode::Standby {
                    let start = self.log_events.len() as u32;
                    self.log_item(
                        LogItem::Market {
                            start,
                            len: events.len() as u32,
                        },
                        events,
                    );
                    return;
                }
                if let Some((_, until)) = &self.carried {
                    if cx.now() > *until {
                        self.carried = None;
                    }
                }
                if self.carried.is_none() {
                    for e in events {
                        self.marks.record(e);
                    }
                    self.publish_all(events, cx);
                    return;
                }
                for e in events {
                    if let Some((old, _)) = &self.carried {
                        if old.covers(e) {
                            self.stats.duplicates += 1;
                            continue;
                        }
                    }
                    self.marks.record(e);
                    self.publish(*e, cx);
                }
            }
            Frame::BookDiff {
                instrument,
                ids,
                checksum,
            } => {
                let Some(slot) = self.slot(instrument) else {
                    self.stats.untracked_diffs += 1;
                    return;
                };
                if self.mode == Mode::Standby {
                    let start = self.log_events.len() as u32;
                    let item = LogItem::Diff {
                        slot: slot as u32,
                        ids,
                        checksum,
                        start,
                        len: events.len() as u32,
                    };
                    self.log_item(item, events);
                    return;
                }
                self.on_diff(slot, ids, checksum, events, cx);
            }
            Frame::BookSnapshot {
                instrument,
                ids,
                checksum,
            } => {
                let Some(slot) = self.slot(instrument) else {
                    self.stats.untracked_diffs += 1;
                    return;
                };
                if self.mode == Mode::Standby {
                    let start = self.log_events.len() as u32;
                    let item = LogItem::Snapshot {
                        slot: slot as u32,
                        ids,
                        checksum,
                        start,
                        len: events.len() as u32,
                    };
                    self.log_item(item, events);
                    return;
                }
                self.on_book_snapshot(slot, ids, checksum, events, cx);
            }
            Frame::Pong => {
                self.stats.pongs += 1;
                self.pong_deadline = 0;
            }
            Frame::Ack { .. } => self.stats.acks += 1,
            Frame::SubscriptionError { id, .. } => {
                self.stats.subscription_errors += 1;
                self.status(
                    InstrumentId::NONE,
                    StatusKind::SubscriptionError,
                    Reason::Adapter,
                    id.unwrap_or(0),
                    cx,
                );
            }
            Frame::Rotate => {
                self.stats.rotations += 1;
                if self.mode == Mode::Active {
                    self.status(
                        InstrumentId::NONE,
                        StatusKind::Rotating,
                        Reason::ServerShutdown,
                        0,
                        cx,
                    );
                }
                cx.recycle(Reason::ServerShutdown);
            }
            Frame::Control => self.stats.control_messages += 1,
            Frame::Unknown => self.stats.unknown_messages += 1,
        }
    }
}

impl BookSync {
    /// `delay` less up to a quarter of it, at random (spreads the retries of many books).
    fn jittered(&mut self, delay: u64) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        delay - x % (delay / 4 + 1)
    }

    /// Starts buffering (if not already) and the bound on the wait for a usable snapshot.
    fn start_buffering(&mut self, now: u64, timeout: u64) {
        if self.state != SyncState::Buffering {
            self.state = SyncState::Buffering;
            self.sync_deadline = now.saturating_add(timeout).max(1);
            self.deferred = false;
        }
    }

    fn new(instrument: InstrumentId, book: BookConfig, config: &FeedConfig) -> BookSync {
        BookSync {
            instrument,
            state: SyncState::Idle,
            book: Book::new(book),
            last: DiffIds::default(),
            requested: false,
            retry_at: 0,
            retry_delay: config.snapshot_retry_ns,
            last_request_at: 0,
            deferred: false,
            sync_deadline: 0,
            inband_expected: false,
            rng: (instrument.index() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            pending: None,
            // Grown by the first diffs buffered while syncing (off the steady-state path):
            // reserved up front, 1,024 events cost 64 KiB per subscribed instrument.
            diffs: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl<A: FeedAdapter> FeedHandler<A> {
    /// Parses run-time topics; each one the adapter does not understand is reported in-band
    /// as a `SubscriptionError` (value 0: no request was sent).
    fn parse_topics(&mut self, topics: &[String], cx: &mut Context<'_>) -> Vec<A::Subscription> {
        let mut subs = Vec::with_capacity(topics.len());
        for topic in topics {
            match self.adapter.parse_topic(topic) {
                Some(sub) => subs.push(sub),
                None => {
                    self.stats.subscription_errors += 1;
                    self.status(
                        InstrumentId::NONE,
                        StatusKind::SubscriptionError,
                        Reason::Schema,
                        0,
                        cx,
                    );
                }
            }
        }
        subs
    }
}

impl<A: FeedAdapter> WsHandler for FeedHandler<A> {
    /// `EngineHandle::subscribe`: topics in the adapter's text form (see
    /// [`FeedAdapter::parse_topic`]).
    fn on_subscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        let subs = self.parse_topics(topics, cx);
        if !subs.is_empty() {
            self.subscribe(&subs, cx);
        }
    }

    /// `EngineHandle::unsubscribe`.
    fn on_unsubscribe(&mut self, topics: &[String], cx: &mut Context<'_>) {
        let subs = self.parse_topics(topics, cx);
        if !subs.is_empty() {
            self.unsubscribe(&subs, cx);
        }
    }

    fn on_connect(&mut self, cx: &mut Context<'_>) {
        if self.mode == Mode::Retired {
            return;
        }
        self.connection = cx.connection().0;
        // Frames queued before this session (a run-time (un)subscribe while not live) are
        // already reflected in the adapter's set, which `connect_frames` requests in full
        // against what the endpoint URL carries: nothing queued is lost by starting afresh.
        self.outbox.clear();
        let mut frames = Vec::new();
        self.adapter.connect_frames(&mut frames);
        self.outbox.extend(frames);
        self.next_send_at = cx.now();
        self.next_ping_at = match self.adapter.heartbeat().app_ping {
            Some(p) => cx.now().saturating_add(p.interval_ns),
            None => 0,
        };
        self.sent_at.clear();
        self.pong_deadline = 0;
        for slot in 0..self.books.len() {
            let b = &mut self.books[slot];
            b.state = SyncState::Idle;
            b.retry_at = 0;
            b.inband_expected = false;
            // Every book is in the connect frames: its snapshot comes in-band.
            self.expect_inband(slot, cx.now());
        }
        self.stale.on_connect(cx.now());
        self.flush(cx);
        self.arm_timer(cx);
    }

    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        if self.mode == Mode::Retired {
            return;
        }
        self.stats.messages += 1;
        let payload = match msg {
            Message::Text(p) | Message::Binary(p) => p,
        };
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        let decoded = self.adapter.decode(payload, cx.now(), &mut events);
        // Ends the recv→decoded stage; book sync and publishing are decoded→published.
        cx.mark_decoded();
        match decoded {
            Ok(frame) => {
                self.handle_frame(frame, &events, cx);
                self.observe(frame, &events, cx);
            }
            Err(e) => {
                self.stats.decode_errors += 1;
                if self.mode == Mode::Active {
                    self.status(e.instrument, StatusKind::DecodeError, e.reason, 0, cx);
                }
            }
        }
        self.scratch = events;
        if self.seen_pending != 0 || self.ack_deadline != 0 {
            self.track_acks(cx);
        }
        if cx.lost() != self.seen_lost || self.republish {
            self.recover_from_drops(cx);
            self.arm_timer(cx);
        }
    }

    fn on_disconnect(&mut self, reason: Reason, cx: &mut Context<'_>) -> Reconnect {
        if self.mode == Mode::Retired {
            return Reconnect::No;
        }
        for slot in 0..self.books.len() {
            let was = self.books[slot].state;
            if self.mode == Mode::Active && was != SyncState::Idle {
                self.resync(slot, false, reason, cx);
            }
            let b = &mut self.books[slot];
            b.state = SyncState::Idle;
            b.diffs.clear();
            b.events.clear();
            b.pending = None;
        }
        self.outbox.clear();
        Reconnect::Yes
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        if self.mode == Mode::Retired {
            return;
        }
        self.flush(cx);
        if self.republish {
            self.recover_from_drops(cx);
        }
        let heartbeat = self.adapter.heartbeat();
        if self.pong_deadline != 0 && cx.now() >= self.pong_deadline {
            // The venue stopped answering: the connection is dead even if bytes trickle.
            self.pong_deadline = 0;
            self.stats.pong_timeouts += 1;
            cx.recycle(Reason::PongTimeout);
            return;
        }
        if let Some(p) = heartbeat.app_ping {
            if self.next_ping_at != 0 && cx.now() >= self.next_ping_at {
                if cx.send_text(p.payload).is_err() {
                    self.stats.send_retries += 1;
                } else if self.pong_deadline == 0 {
                    self.pong_deadline = cx.now().saturating_add(heartbeat.pong_timeout_ns);
                }
                self.next_ping_at = cx.now().saturating_add(p.interval_ns);
            }
        }
        self.poll_snapshots(cx);
        self.expire_syncs(cx);
        if self.stale.deadline() != 0 && cx.now() >= self.stale.deadline() {
            self.check_stale(cx);
        }
        for slot in 0..self.books.len() {
            let b = &self.books[slot];
            if b.state == SyncState::Buffering
                && !b.requested
                && b.pending.is_none()
                && cx.now() >= b.retry_at
            {
                self.request_snapshot(slot, cx);
            }
        }
        self.arm_timer(cx);
    }

    /// The deepest book's run (both sides at the book depth) and the `Overflow` report
    /// before it: a smaller ring could never take that book's snapshot run whole.
    fn min_ring_capacity(&self) -> usize {
        match self.deepest_run {
            0 => 0,
            n => n + 1,
        }
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        if self.mode == Mode::Retired {
            return;
        }
        self.poll_snapshots(cx);
        // Requests still in flight are looked at again on the timer (`snapshot_poll_ns`).
        self.arm_timer(cx);
    }
}

impl<A: FeedAdapter> FeedHandler<A> {
    /// Feeds one decoded message to the stale detector: one stream (messages carry one
    /// instrument), one histogram update. Hot path.
    #[inline]
    fn observe(&mut self, frame: Frame, events: &[Event], cx: &mut Context<'_>) {
        if !self.stale.enabled() {
            return;
        }
        let (instrument, kind) = match frame {
            Frame::BookDiff { instrument, .. } | Frame::BookSnapshot { instrument, .. } => {
                (instrument, StreamKind::Book)
            }
            Frame::Market => match events.first() {
                Some(e) => match e.kind() {
                    EventKind::Trade => (e.instrument, StreamKind::Trade),
                    EventKind::Bbo => (e.instrument, StreamKind::Bbo),
                    EventKind::BookLevel => (e.instrument, StreamKind::Book),
                    EventKind::Status => return,
                },
                None => return,
            },
            _ => return,
        };
        match self.stale.on_data(instrument, kind, cx.now()) {
            Seen::Quiet => {}
            Seen::Resumed(silence) => self.stream_resumed(instrument, kind, silence, cx),
            Seen::Judged => {
                self.stale.check_soon(cx.now());
                self.arm_timer(cx);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn stream_resumed(
        &mut self,
        instrument: InstrumentId,
        kind: StreamKind,
        silence: u64,
        cx: &mut Context<'_>,
    ) {
        self.stats.resumed_streams += 1;
        if self.mode == Mode::Active {
            let value = status_value(kind, silence);
            self.status(instrument, StatusKind::Resumed, Reason::None, value, cx);
        }
    }

    /// Timer: streams silent past their limit publish `Stale` (a book also `Resync`: it goes
    /// idle and syncs again from a snapshot when diffs return); when every judged stream is
    /// stale and none spoke since, the connection is recycled at once.
    #[cold]
    fn check_stale(&mut self, cx: &mut Context<'_>) {
        // The detector is moved out so the report can publish (an empty one allocates nothing).
        let mut det = std::mem::replace(&mut self.stale, StaleDetector::new(StaleMode::Off, None));
        let verdict = det.check(cx.now(), |instrument, kind, silence| {
            self.stream_stale(instrument, kind, silence, cx);
        });
        self.stale = det;
        if verdict.all_stale && self.mode == Mode::Active {
            self.stats.stale_recycles += 1;
            self.status(InstrumentId::NONE, StatusKind::Stale, Reason::Stale, 0, cx);
            cx.recycle(Reason::Stale);
        }
    }

    fn stream_stale(
        &mut self,
        instrument: InstrumentId,
        kind: StreamKind,
        silence: u64,
        cx: &mut Context<'_>,
    ) {
        self.stats.stale_streams += 1;
        if self.mode != Mode::Active {
            return;
        }
        self.status(
            instrument,
            StatusKind::Stale,
            Reason::Stale,
            status_value(kind, silence),
            cx,
        );
        if kind != StreamKind::Book {
            return;
        }
        let Some(slot) = self.slot(instrument) else {
            return;
        };
        if self.books[slot].state == SyncState::Idle {
            return;
        }
        // Consumers' books treat `Resync` as invalidating; the feed's own syncs afresh when
        // diffs come back (as after a reconnect).
        let b = &mut self.books[slot];
        b.state = SyncState::Idle;
        b.diffs.clear();
        b.events.clear();
        b.pending = None;
        b.book.invalidate();
        self.stats.resyncs += 1;
        self.status(instrument, StatusKind::Resync, Reason::Stale, 0, cx);
    }
}
