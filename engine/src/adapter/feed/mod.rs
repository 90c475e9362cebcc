//! [`FeedHandler`]: runs any [`FeedAdapter`] on an engine connection.
//!
//! Here: the handler's state, its configuration and counters, run-time (un)subscribes, and
//! the [`WsHandler`] callbacks that route each decoded [`Frame`]. The rest, in the order a
//! message meets it:
//! * `sync`: per-instrument book sync (idle → buffering → live; REST or in-band
//!   snapshots, sequence verdicts incl. resets, checksums, the snapshot/resubscribe backoff);
//! * `outbound`: paced frames, the per-connection request budget, the timer, acks;
//! * `recovery`: republishing books to a consumer ring that dropped events;
//! * `liveness`: per-stream stale detection;
//! * `handover`: make-before-break: watermarks, the standby log, the take-over;
//! * `lines`: A/B line arbitration: line handlers and the arbiter;
//! * `failover`: A/B lines for venues whose book ids are per connection: muted lines that
//!   keep their own books, and the arbiter's side of a switch.

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

mod connection_seq;
mod failover;
mod handover;
mod lines;
mod liveness;
mod outbound;
mod recovery;
mod sync;

use handover::*;
pub use handover::{HandoverReport, RECENT_TRADE_IDS, Watermarks};
pub use lines::MAX_LINES;
pub(crate) use lines::{Arbiter, NO_LINE};
use recovery::*;
use sync::*;

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
    /// Breaks of a connection-wide sequence ([`FeedAdapter::take_connection_gap`]); each
    /// also counts a gap per book of the connection.
    pub connection_gaps: u64,
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
    /// Trades with unordered ids (UUIDs) one line of an arbitrated feed brought behind the
    /// published stream, never published by any line: its first trades of a session when a
    /// later one turned out already published (from before the feed's start, when it
    /// subscribed before the line that started the stream). Skipped, as an ordered id at or
    /// below the watermark is.
    pub behind_trades: u64,
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

/// Runs a [`FeedAdapter`] as a [`WsHandler`]. See the module docs of [`crate::adapter`].
pub struct FeedHandler<A: FeedAdapter> {
    adapter: A,
    snapshots: Box<dyn SnapshotSource>,
    config: FeedConfig,
    mode: Mode,
    /// Publishes nothing but subscription errors (a failover line: it keeps its own books
    /// in sync; what it would publish, the feed forwards or not).
    muted: bool,
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
    /// A standby's first logged trade per instrument (what the old connection must reach).
    first_trades: FirstTrades,
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
    /// A failover arbiter's: the run a book taken over from a line is built in.
    adopt_run: Vec<Event>,
    /// Levels of the deepest book's republished run (both sides full), 0 without books.
    deepest_run: usize,
    /// Per-stream stale detection (checked from the handler timer).
    stale: StaleDetector,
    /// When the request frames of this session were sent, oldest first, up to the adapter's
    /// [`super::Pacing::budget`] (a sliding window; empty without a budget).
    sent_at: VecDeque<u64>,
    /// An application ping is unanswered: its pong is due by then (0: none outstanding).
    pong_deadline: u64,
    /// The arbiter of an arbitrated feed: books to resubscribe, sent by a line (the
    /// arbiter owns no socket, and a line's adapter tracks the acks). `None` otherwise.
    line_resubscribes: Option<Vec<InstrumentId>>,
    stats: FeedStats,
}

const NO_SLOT: u32 = u32::MAX;

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
            muted: false,
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
            first_trades: FirstTrades::default(),
            carried: None,
            ack_deadline: 0,
            seen_pending: 0,
            seen_lost: 0,
            ring_marks: Vec::with_capacity(8),
            republish: false,
            snapshot_run: Vec::with_capacity(max_run),
            adopt_run: Vec::new(),
            deepest_run: max_run.saturating_sub(1),
            stale: StaleDetector::new(config.stale, ceiling),
            sent_at: VecDeque::with_capacity(budget),
            pong_deadline: 0,
            line_resubscribes: None,
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
        self.marks.grow(n);
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
        if self.muted {
            return;
        }
        self.stats.published += 1;
        cx.publish(e);
    }

    /// One message's events, in one go.
    #[inline]
    fn publish_all(&mut self, events: &[Event], cx: &mut Context<'_>) {
        if self.muted {
            return;
        }
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
        if self.muted && kind != StatusKind::SubscriptionError {
            return;
        }
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

    fn handle_frame(&mut self, frame: Frame, events: &[Event], cx: &mut Context<'_>) {
        match frame {
            Frame::Market => {
                if self.mode == Mode::Standby {
                    for e in events {
                        self.first_trades.note(e);
                    }
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

impl<A: FeedAdapter> FeedHandler<A> {
    /// [`WsHandler::on_message`], then `data` with each data frame (market, book diff or
    /// snapshot), its events and whether its book is in sync after it (a failover line's
    /// feed forwards what its leading books applied).
    #[inline]
    pub(crate) fn message_with(
        &mut self,
        msg: Message<'_>,
        cx: &mut Context<'_>,
        data: impl FnOnce(Frame, &[Event], bool, &mut Context<'_>),
    ) {
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
        if let Some(expected) = self.adapter.take_connection_gap() {
            self.on_connection_gap(expected, cx);
        }
        match decoded {
            Ok(frame) => {
                self.handle_frame(frame, &events, cx);
                self.observe(frame, &events, cx);
                match frame {
                    Frame::Market => data(frame, &events, false, cx),
                    Frame::BookDiff { instrument, .. } | Frame::BookSnapshot { instrument, .. } => {
                        let live = self.in_sync(instrument);
                        data(frame, &events, live, cx);
                    }
                    _ => {}
                }
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
        self.message_with(msg, cx, |_, _, _, _| {});
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
