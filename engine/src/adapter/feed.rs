//! [`FeedHandler`]: runs any [`FeedAdapter`] on an engine connection.

use std::collections::VecDeque;

use super::{
    BookSnapshot, DecodeStats, DiffIds, FeedAdapter, Frame, ResyncPolicy, SeqCheck, SnapshotSource,
};
use crate::book::{Book, BookConfig};
use crate::event::{Event, EventKind, Flags, Level, MAX_EVENT_SCALE, Side, Status, StatusKind};
use crate::handler::{Context, Message, Reconnect, SendError, WsHandler};
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// Tuning of a [`FeedHandler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// Keep a validating book per instrument on the I/O thread (levels are applied before
    /// they are published; a level the book rejects triggers a resync).
    pub validate_books: bool,
    /// First delay before asking again for a failed snapshot, ns; doubles up to the max.
    pub snapshot_retry_ns: u64,
    /// Longest delay between snapshot attempts, ns.
    pub snapshot_retry_max_ns: u64,
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
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig {
            validate_books: true,
            snapshot_retry_ns: 250_000_000,
            snapshot_retry_max_ns: 10_000_000_000,
            max_buffered_events: 1 << 20,
            max_standby_events: 1 << 22,
            scratch_events: 4096,
            ack_timeout_ns: 10_000_000_000,
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
    /// Snapshots that failed, were malformed, or were too old for the buffered diffs.
    pub snapshot_failures: u64,
    /// Levels the validating book rejected (each followed by a resync).
    pub book_errors: u64,
    /// Diffs after which the validating book was crossed.
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
}

impl Watermarks {
    fn with_len(n: usize) -> Watermarks {
        Watermarks {
            trades: vec![0; n],
            agg_trades: vec![0; n],
            bbos: vec![0; n],
            books: vec![None; n],
        }
    }

    /// Whether `e` was already published under these watermarks (trades and BBOs only).
    fn covers(&self, e: &Event) -> bool {
        let i = e.instrument.index();
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
    /// When to (re)request a snapshot while buffering (0: as soon as possible).
    retry_at: u64,
    retry_delay: u64,
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
    /// `Context::dropped` when last looked at.
    seen_dropped: u64,
    /// Consumers lost events: republish the books once their rings have room.
    republish: bool,
    /// The run a snapshot (installed or republished) is built in, kept for the next one.
    snapshot_run: Vec<Event>,
    stats: FeedStats,
}

const NO_SLOT: u32 = u32::MAX;

/// Fills `run` with a book's levels as a SNAPSHOT run: every level flagged `SNAPSHOT`, the
/// last also `LAST_IN_BATCH`; an empty book is one zero-quantity level, which still tells
/// consumers to clear. Levels that do not fit an event are left out.
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
    if let Some(last) = run.last_mut() {
        last.flags = Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH);
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
            .map(|s| 2 * s.config.depth + 1)
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
        FeedHandler {
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
            seen_dropped: 0,
            republish: false,
            snapshot_run: Vec::with_capacity(max_run),
            stats: FeedStats::default(),
        }
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

    /// Subscribes at run time: the frames are queued and paced like the connect frames.
    pub fn subscribe(&mut self, subs: &[A::Subscription], cx: &mut Context<'_>) {
        let mut frames = Vec::new();
        self.adapter.subscribe(subs, &mut frames);
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

    /// Unsubscribes at run time (paced like subscriptions).
    pub fn unsubscribe(&mut self, subs: &[A::Subscription], cx: &mut Context<'_>) {
        let mut frames = Vec::new();
        self.adapter.unsubscribe(subs, &mut frames);
        self.outbox.extend(frames);
        self.flush(cx);
        self.arm_timer(cx);
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
        let interval = self.adapter.pacing().min_interval_ns;
        while let Some(frame) = self.outbox.front() {
            if cx.now() < self.next_send_at {
                break;
            }
            match cx.send_text(frame) {
                Ok(()) => {
                    self.outbox.pop_front();
                    self.next_send_at = cx.now().saturating_add(interval);
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
        for b in &self.books {
            if b.state == SyncState::Buffering && !b.requested && b.pending.is_none() {
                next = next.min(b.retry_at);
            }
        }
        if self.ack_deadline != 0 {
            next = next.min(self.ack_deadline);
        }
        if self.republish {
            // Look again soon, in case the feed goes quiet while the rings drain.
            next = next.min(cx.now().saturating_add(REPUBLISH_RETRY_NS));
        }
        if next != u64::MAX {
            cx.set_timer(next);
        }
    }

    // ---- book sync ----

    fn request_snapshot(&mut self, slot: usize, cx: &mut Context<'_>) {
        match self.adapter.resync_policy() {
            ResyncPolicy::Snapshot => {
                let b = &mut self.books[slot];
                if b.requested {
                    return;
                }
                if cx.now() < b.retry_at {
                    return; // the timer asks later
                }
                b.requested = true;
                self.stats.snapshots_requested += 1;
                self.snapshots.request(b.instrument);
                cx.request_poll();
            }
            ResyncPolicy::Resubscribe | ResyncPolicy::Reconnect => cx.recycle(Reason::Adapter),
        }
    }

    /// Publishes Gap (when `gap`) and Resync, and starts buffering `slot` again.
    fn resync(&mut self, slot: usize, gap: bool, reason: Reason, cx: &mut Context<'_>) {
        let (instrument, expected) = {
            let b = &mut self.books[slot];
            b.state = SyncState::Buffering;
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
    /// status. Once the rings have room again, every synced book goes out as a SNAPSHOT run
    /// (from the validating book: no venue round trip), or, without validating books, is
    /// resynced from a fresh snapshot. Drops caused by the republishing itself do not
    /// trigger another round (a ring smaller than a book would loop); those consumers wait
    /// for the next resync.
    fn recover_from_drops(&mut self, cx: &mut Context<'_>) {
        if cx.dropped() != self.seen_dropped {
            self.seen_dropped = cx.dropped();
            self.republish = true;
        }
        if !self.republish || self.mode != Mode::Active || cx.is_congested() {
            return;
        }
        self.republish = false;
        for slot in 0..self.books.len() {
            let b = &self.books[slot];
            let synced = matches!(b.state, SyncState::Live | SyncState::Joining);
            if !synced {
                continue; // a snapshot run follows its sync anyway
            }
            if self.config.validate_books && b.book.is_valid() {
                self.republish_book(slot, cx);
            } else {
                self.resync(slot, false, Reason::Backpressure, cx);
                self.request_snapshot(slot, cx);
            }
        }
        self.seen_dropped = cx.dropped();
    }

    fn republish_book(&mut self, slot: usize, cx: &mut Context<'_>) {
        let mut run = std::mem::take(&mut self.snapshot_run);
        let b = &self.books[slot];
        let sides = b
            .book
            .bids(usize::MAX)
            .map(|l| (Side::Buy, l))
            .chain(b.book.asks(usize::MAX).map(|l| (Side::Sell, l)));
        snapshot_run(&mut run, b.instrument, b.last.last, 0, cx.now(), sides);
        self.publish_all(&run, cx);
        self.snapshot_run = run;
        self.stats.republished += 1;
    }

    fn on_diff(&mut self, slot: usize, ids: DiffIds, events: &[Event], cx: &mut Context<'_>) {
        match self.books[slot].state {
            SyncState::Idle | SyncState::Buffering => {
                self.books[slot].state = SyncState::Buffering;
                self.buffer(slot, ids, events);
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
                        if !self.apply_diff(slot, ids, events, cx) {
                            self.request_snapshot(slot, cx);
                        }
                    }
                    SeqCheck::Stale => self.stats.stale_diffs += 1,
                    SeqCheck::Gap => {
                        self.resync(slot, true, Reason::None, cx);
                        self.buffer(slot, ids, events);
                        self.request_snapshot(slot, cx);
                    }
                }
            }
        }
    }

    fn buffer(&mut self, slot: usize, ids: DiffIds, events: &[Event]) {
        let max = self.config.max_buffered_events;
        let b = &mut self.books[slot];
        if b.events.len() + events.len() > max {
            b.events.clear();
            b.diffs.clear();
            self.stats.buffer_overflows += 1;
        }
        b.diffs.push(Buffered {
            ids,
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
                self.stats.crossed += 1;
            }
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
        for (i, d) in self.books[slot].diffs.iter().enumerate() {
            match self.adapter.first_diff(snap_id, &d.ids) {
                SeqCheck::Stale => {}
                SeqCheck::Apply => {
                    first = Some(i);
                    break;
                }
                SeqCheck::Gap => {
                    // Snapshot older than the buffered diffs: fetch a newer one.
                    self.stats.snapshot_failures += 1;
                    self.books[slot].pending = None;
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
        if !self.install_snapshot(slot, &snap, cx) {
            self.stats.snapshot_failures += 1;
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
                SeqCheck::Apply
            } else {
                self.adapter.next_diff(&self.books[slot].last, &d.ids)
            };
            match check {
                SeqCheck::Apply => {
                    if !self.apply_diff(slot, d.ids, evs, cx) {
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
                b.retry_delay = self.config.snapshot_retry_ns;
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

    /// Publishes `snap` as a SNAPSHOT run and rebuilds the validating book from it. Returns
    /// false (publishing nothing) when a level cannot be carried by an event.
    fn install_snapshot(&mut self, slot: usize, snap: &BookSnapshot, cx: &mut Context<'_>) -> bool {
        let fits = |(p, q): &(crate::Decimal, crate::Decimal)| {
            p.scale() <= MAX_EVENT_SCALE && q.scale() <= MAX_EVENT_SCALE && !q.is_negative()
        };
        if !snap.bids.iter().all(fits) || !snap.asks.iter().all(fits) {
            return false;
        }
        let instrument = self.books[slot].instrument;
        if self.config.validate_books {
            let book = &mut self.books[slot].book;
            book.invalidate();
            for (side, levels) in [(Side::Buy, &snap.bids), (Side::Sell, &snap.asks)] {
                for &(p, q) in levels.iter() {
                    if book.apply(side, p, q).is_err() {
                        book.invalidate();
                        return false;
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
        true
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
        let retry_cap = self.config.snapshot_retry_max_ns;
        let b = &mut self.books[slot];
        b.requested = false;
        if b.state != SyncState::Buffering {
            return; // a late answer for a book that is no longer waiting
        }
        match result {
            Ok(snap) => {
                b.pending = Some(snap);
                self.try_sync(slot, cx);
            }
            Err(_) => {
                self.stats.snapshot_failures += 1;
                b.retry_at = cx.now().saturating_add(b.retry_delay);
                b.retry_delay = (b.retry_delay.saturating_mul(2)).min(retry_cap);
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
        if self.mode != Mode::Standby || self.adapter.pending_acks() != 0 || self.log_overflow {
            return false;
        }
        self.books.iter().enumerate().all(|(slot, b)| {
            let Some(Some(last)) = old.books.get(b.instrument.index()) else {
                return true;
            };
            let first = self.log.iter().find_map(|item| match item {
                LogItem::Diff { slot: s, ids, .. } if *s as usize == slot => Some(ids),
                _ => None,
            });
            first.is_some_and(|ids| self.adapter.join_diff(last, ids) != SeqCheck::Gap)
        })
    }

    /// Makes this standby handler the publishing one in place of `old` (same adapter type,
    /// same instruments, same I/O thread): books in sync move over, the log is replayed with
    /// what `old` already published skipped (trades and BBOs by id, book diffs by the
    /// adapter's join rule), and `old` is retired (its connection should then be closed).
    pub fn take_over(&mut self, old: &mut FeedHandler<A>, cx: &mut Context<'_>) -> HandoverReport {
        let marks = old.watermarks();
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
                    start,
                    len,
                } => {
                    let evs = &log_events[start as usize..(start + len) as usize];
                    let was_joining = self.books[slot as usize].state == SyncState::Joining;
                    self.on_diff(slot as usize, ids, evs, cx);
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
            Frame::BookDiff { instrument, ids } => {
                let Some(slot) = self.slot(instrument) else {
                    self.stats.untracked_diffs += 1;
                    return;
                };
                if self.mode == Mode::Standby {
                    let start = self.log_events.len() as u32;
                    let item = LogItem::Diff {
                        slot: slot as u32,
                        ids,
                        start,
                        len: events.len() as u32,
                    };
                    self.log_item(item, events);
                    return;
                }
                self.on_diff(slot, ids, events, cx);
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
    fn new(instrument: InstrumentId, book: BookConfig, config: &FeedConfig) -> BookSync {
        BookSync {
            instrument,
            state: SyncState::Idle,
            book: Book::new(book),
            last: DiffIds::default(),
            requested: false,
            retry_at: 0,
            retry_delay: config.snapshot_retry_ns,
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
        self.outbox.clear();
        let mut frames = Vec::new();
        self.adapter.connect_frames(&mut frames);
        self.outbox.extend(frames);
        self.next_send_at = cx.now();
        self.next_ping_at = match self.adapter.heartbeat().app_ping {
            Some(p) => cx.now().saturating_add(p.interval_ns),
            None => 0,
        };
        for b in &mut self.books {
            b.state = SyncState::Idle;
            b.retry_at = 0;
        }
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
            Ok(frame) => self.handle_frame(frame, &events, cx),
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
        if cx.dropped() != self.seen_dropped || self.republish {
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
        if let Some(p) = self.adapter.heartbeat().app_ping {
            if self.next_ping_at != 0 && cx.now() >= self.next_ping_at {
                if cx.send_text(p.payload).is_err() {
                    self.stats.send_retries += 1;
                }
                self.next_ping_at = cx.now().saturating_add(p.interval_ns);
            }
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

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        if self.mode == Mode::Retired {
            return;
        }
        while let Some((instrument, result)) = self.snapshots.poll() {
            self.on_snapshot_result(instrument, result, cx);
        }
        if self.books.iter().any(|b| b.requested) {
            cx.request_poll();
        }
        self.arm_timer(cx);
    }
}
