//! The venue extension point: a [`FeedAdapter`] says how to talk to a venue, and the generic
//! [`FeedHandler`] runs any adapter on an engine connection.
//!
//! An adapter (like the seeds' handler behaviours) is plain protocol code with no I/O:
//!
//! * given its subscriptions it names the [`Endpoint`] (URL, headers) and the subscribe and
//!   unsubscribe frames, and the outbound [`Pacing`] the venue tolerates;
//! * it decodes one frame into [`Event`]s and a [`Frame`] that says what the frame was;
//! * it states how heartbeats work ([`Heartbeat`]) and how to resync a book
//!   ([`ResyncPolicy`]);
//! * it owns the venue's sequence rules: [`FeedAdapter::first_diff`] (the first diff after a
//!   snapshot), [`FeedAdapter::next_diff`] (each diff after that) and
//!   [`FeedAdapter::join_diff`] (joining a second connection's stream onto the first's at a
//!   make-before-break rotation).
//!
//! The [`FeedHandler`] implements [`crate::handler::WsHandler`]: it sends the subscribe frames
//! (paced by the handler timer), decodes every message, buffers book diffs until a snapshot
//! arrives from a pluggable [`SnapshotSource`] (REST on a helper thread, or a capture), checks
//! sequences, keeps a validating [`crate::book::Book`] per instrument, and publishes. A gap
//! publishes `Gap` and `Resync` for the instrument, then a fresh snapshot as a SNAPSHOT run.
//!
//! Writing one: the guide `docs/writing-an-adapter.md` in the tickwire repository (the
//! contract, and the tests an adapter needs in the order to write them), and the smallest
//! complete adapter, a toy venue with a book that has gaps and resyncs, in the example
//! `tools/examples/custom_adapter.rs` (`cargo run --example custom_adapter`).

mod connect;
#[cfg(test)]
mod contract_tests;
mod feed;
mod lines;
#[cfg(test)]
mod lines_tests;
mod rotation;
mod snapshot;
mod stale;

pub use connect::{AddFeedError, add_feed, connection_config};
pub use feed::{
    FeedConfig, FeedHandler, FeedStats, HandoverReport, MAX_LINES, RECENT_TRADE_IDS, Watermarks,
};
pub use lines::{
    ArbitratedFeed, ArbitrationConfig, ArbitrationError, ArbitrationReport, LineFactory,
    LineMonitor, LineReport, LineState, PairReport, add_arbitrated_feed,
};
pub use rotation::{
    FeedFactory, RotatingFeed, RotationConfig, RotationError, RotationMonitor, RotationStats,
    add_rotating_feed,
};
pub use snapshot::{BookSnapshot, QueuedSnapshots, SnapshotError, SnapshotSource};
pub use stale::{
    AdaptiveStale, Cadence, HALVE_AT, Seen, StaleDetector, StaleMode, StreamKind, Verdict,
    status_silence_ms, status_value,
};

use crate::book::BookConfig;
use crate::event::Event;
use crate::instrument::InstrumentId;
use crate::reason::Reason;

/// Flags `events` (the levels of one in-band snapshot) as a SNAPSHOT run, as consumers get
/// it: every level `SNAPSHOT`, the first also `RUN_START`, the last also `LAST_IN_BATCH`.
/// For tools that print decoded frames without a [`FeedHandler`].
pub fn mark_snapshot_run(events: &mut [Event]) {
    for e in events.iter_mut() {
        e.flags = e.flags.with(crate::event::Flags::SNAPSHOT);
    }
    if let Some(first) = events.first_mut() {
        first.flags = first.flags.with(crate::event::Flags::RUN_START);
    }
    if let Some(last) = events.last_mut() {
        last.flags = last.flags.with(crate::event::Flags::LAST_IN_BATCH);
    }
}

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `ws://` or `wss://` URL, path and query included.
    pub url: String,
    /// Extra HTTP headers for the upgrade request.
    pub headers: Vec<(String, String)>,
}

/// An application-level ping the handler sends as a text frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppPing {
    /// Interval between pings, ns.
    pub interval_ns: u64,
    /// The text frame to send.
    pub payload: &'static [u8],
}

/// How liveness is checked on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The venue sends WebSocket pings about this often (ns); the engine answers each with a
    /// pong echoing its payload. `None` when the venue does not ping.
    pub server_ping_interval_ns: Option<u64>,
    /// Send WebSocket ping frames at this interval (ns); `None` to send none.
    pub client_ping_interval_ns: Option<u64>,
    /// Application-level ping sent by the [`FeedHandler`] (e.g. `{"op":"ping"}`).
    pub app_ping: Option<AppPing>,
    /// A pong (WS or application) must arrive within this after a ping we sent (ns).
    pub pong_timeout_ns: u64,
    /// No data message within this recycles the connection as stale (ns).
    pub stale_after_ns: Option<u64>,
}

/// How fast the handler may send frames (venues count them and close offenders).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacing {
    /// Minimum gap between two frames the handler sends, ns.
    pub min_interval_ns: u64,
    /// Most request frames (subscribe, unsubscribe, per-instrument resubscribes) one
    /// connection may send in a window, e.g. OKX's 480 an hour. `None`: no budget beyond
    /// `min_interval_ns`. Application pings are not counted.
    pub budget: Option<RequestBudget>,
}

/// A venue's request budget per connection: a token bucket that starts full on every
/// connection and refills `requests` per `window_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests allowed per window (also the burst).
    pub requests: u32,
    /// The window, ns.
    pub window_ns: u64,
}

/// Where a book's snapshot comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotStart {
    /// From the [`SnapshotSource`] (REST): diffs are buffered until a snapshot they line up
    /// with arrives (Binance).
    Rest,
    /// In-band: the venue sends a [`Frame::BookSnapshot`] after each subscribe (Bybit, OKX
    /// while it still does, Kraken, Coinbase). A snapshot replaces the book at any time; diffs
    /// before the first are dropped as stale.
    InBand,
    /// In-band when one comes; when `grace_ns` passes after a (re)subscribe with diffs and no
    /// snapshot, from the [`SnapshotSource`] (OKX's documented REST start, venues.md §12).
    InBandElseRest {
        /// How long to wait for an in-band snapshot, ns.
        grace_ns: u64,
    },
}

/// How a book is rebuilt after a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncPolicy {
    /// Fetch a snapshot from the [`SnapshotSource`] and replay buffered diffs on top (Binance).
    Snapshot,
    /// Unsubscribe and subscribe the instrument again ([`FeedAdapter::resubscribe`]): the
    /// venue sends a fresh snapshot in-band. Paced, within the connection's
    /// [`Pacing::budget`], and through the book's backoff like a REST request.
    Resubscribe,
    /// Recycle the whole connection.
    Reconnect,
}

/// Update ids a book diff carries (Binance: `U`, `u`, and `pu` on futures; Bybit `u` as
/// `first` and `last`; OKX `seqId` as `first` and `last` and `prevSeqId` as `prev`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DiffIds {
    /// First update id in the message.
    pub first: u64,
    /// Final update id in the message (the sequence events carry).
    pub last: u64,
    /// Final update id of the previous message on the stream, when the venue sends it.
    pub prev: Option<u64>,
}

/// A sequence rule's verdict on one diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqCheck {
    /// Apply the diff.
    Apply,
    /// Already covered (older than the book): skip it.
    Stale,
    /// Updates are missing between the book and this diff.
    Gap,
    /// The venue restarted the sequence (Bybit `u == 1`): the diff's levels are the whole new
    /// book. It is installed as a snapshot (a SNAPSHOT run), not applied.
    Reset,
}

/// What one decoded frame was. Its events, if any, are in the output vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Trades and/or BBOs: publish the events as they are.
    Market,
    /// One book diff for `instrument`: the events are its levels, in venue order, the last one
    /// flagged LAST_IN_BATCH (none when the venue sent an empty diff).
    BookDiff {
        /// The instrument.
        instrument: InstrumentId,
        /// Its update ids.
        ids: DiffIds,
        /// The venue's checksum of the book after this diff, when it sent one (checked with
        /// [`FeedAdapter::book_checksum`]).
        checksum: Option<u32>,
    },
    /// A whole book for `instrument`, sent in-band: it replaces the book whatever came
    /// before. The events are its levels (any flags: the handler publishes them as a
    /// SNAPSHOT run).
    BookSnapshot {
        /// The instrument.
        instrument: InstrumentId,
        /// The snapshot's update ids (`last`: the id the next diff chains onto).
        ids: DiffIds,
        /// The venue's checksum of this book, when it sent one.
        checksum: Option<u32>,
    },
    /// The answer to the handler's application-level ping ([`Heartbeat::app_ping`]).
    Pong,
    /// A subscription request was acknowledged.
    Ack {
        /// The request id.
        id: u64,
    },
    /// The venue refused a request.
    SubscriptionError {
        /// The request id, when the error carried one.
        id: Option<u64>,
        /// The venue's error code.
        code: i64,
    },
    /// The venue asked the client to reconnect (e.g. Binance `serverShutdown`).
    Rotate,
    /// A known control message that carries no data (pong, property reply).
    Control,
    /// A message of a type the adapter does not know (counted, not an error).
    Unknown,
}

/// Why a frame could not be decoded. The frame is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Category: [`Reason::Json`], [`Reason::Number`], [`Reason::Schema`] or
    /// [`Reason::UnknownSymbol`].
    pub reason: Reason,
    /// The instrument, when it was read before the error.
    pub instrument: InstrumentId,
}

impl DecodeError {
    /// An error of category `reason` without a known instrument.
    pub const fn new(reason: Reason) -> DecodeError {
        DecodeError {
            reason,
            instrument: InstrumentId::NONE,
        }
    }
}

/// Decode counters an adapter keeps (read with [`FeedAdapter::decode_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames decoded (good or bad).
    pub frames: u64,
    /// Frames the adapter's fast path (e.g. a hand scanner) decoded on its own.
    pub fast_path: u64,
    /// Fields the adapter does not know, inside messages it does know.
    pub unknown_fields: u64,
    /// Messages of unknown type.
    pub unknown_messages: u64,
    /// Frames rejected as malformed JSON.
    pub json_errors: u64,
    /// Frames rejected for a number that is not an exact decimal in range.
    pub number_errors: u64,
    /// Frames rejected for a missing or mistyped field.
    pub schema_errors: u64,
    /// Frames for a symbol that was not subscribed.
    pub unknown_symbols: u64,
}

impl DecodeStats {
    /// Counts one rejected frame under its category.
    pub fn count_error(&mut self, reason: Reason) {
        match reason {
            Reason::Json => self.json_errors += 1,
            Reason::Number => self.number_errors += 1,
            Reason::UnknownSymbol => self.unknown_symbols += 1,
            _ => self.schema_errors += 1,
        }
    }
}

/// An instrument whose book the handler keeps in sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookSpec {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Depth and scales of the validating book.
    pub config: BookConfig,
}

/// A venue protocol. See the module docs. All methods run on the I/O thread except the
/// constructors; `decode` is the hot path and must not allocate after warm-up.
///
/// How to write one: `docs/writing-an-adapter.md` in the repository; a whole small one:
/// `tools/examples/custom_adapter.rs`.
pub trait FeedAdapter: Send + 'static {
    /// What the caller subscribes to (venue-specific: symbol plus channel).
    type Subscription: Clone + Send + 'static;

    /// Venue name as printed (`binance`, `binance-usdm`).
    fn venue(&self) -> &str;

    /// URL and headers of the connection. Read once, when the connection is added: every
    /// reconnect and every rotation leg uses them again, so subscriptions changed later are
    /// not in them; [`FeedAdapter::connect_frames`] must restore those.
    fn endpoint(&self) -> Endpoint;

    /// Liveness rules.
    fn heartbeat(&self) -> Heartbeat;

    /// Outbound frame pacing.
    fn pacing(&self) -> Pacing;

    /// How books are rebuilt after a gap.
    fn resync_policy(&self) -> ResyncPolicy {
        ResyncPolicy::Snapshot
    }

    /// The books to keep in sync (instruments with a depth channel).
    fn books(&self) -> Vec<BookSpec>;

    /// Every instrument this adapter can produce events for.
    fn instruments(&self) -> Vec<InstrumentId>;

    /// Text frames to send once connected: the requests that bring a session opened with
    /// [`FeedAdapter::endpoint`] to the current subscription set (run-time subscribes and
    /// unsubscribes included; frames queued before the session are dropped, this replaces
    /// them). Called on every (re)connect; not on the hot path.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>);

    /// Adds subscriptions; pushes the text frames that request them.
    fn subscribe(&mut self, subs: &[Self::Subscription], out: &mut Vec<Vec<u8>>);

    /// Removes subscriptions; pushes the text frames that cancel them.
    fn unsubscribe(&mut self, subs: &[Self::Subscription], out: &mut Vec<Vec<u8>>);

    /// Pushes the frames that unsubscribe and subscribe again `instrument`'s book channel
    /// alone, so the venue sends a fresh in-band snapshot ([`ResyncPolicy::Resubscribe`]).
    /// Each frame counts against [`Pacing::budget`]. The default pushes nothing (the handler
    /// then recycles the connection).
    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let _ = (instrument, out);
    }

    /// Where book snapshots come from. Default: REST ([`SnapshotStart::Rest`]).
    fn snapshot_start(&self) -> SnapshotStart {
        SnapshotStart::Rest
    }

    /// The venue's checksum of `book` (`instrument`'s validating book, just updated), for a
    /// frame that carried one. `None`: this venue has no checksum (the default). Runs on the
    /// I/O thread after every checksummed message: must not allocate.
    fn book_checksum(&self, instrument: InstrumentId, book: &crate::book::Book) -> Option<u32> {
        let _ = (instrument, book);
        None
    }

    /// Reads a subscription from its text form (the topics of `EngineHandle::subscribe`, e.g.
    /// Binance stream names like `btcusdt@trade`). `None`: not a topic of this venue (the
    /// default, for adapters that take no run-time subscriptions).
    fn parse_topic(&self, topic: &str) -> Option<Self::Subscription> {
        let _ = topic;
        None
    }

    /// Requests sent and not acknowledged yet.
    fn pending_acks(&self) -> usize;

    /// Gives up on every request still unacknowledged (the feed handler's ack timeout
    /// passed; it reports them as a `SubscriptionError`). Returns how many there were.
    fn expire_acks(&mut self) -> usize {
        0
    }

    /// Decodes one message (mutable: parsers may work in place). Events are appended to `out`
    /// with `recv_ts` as their receive time.
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError>;

    /// Decode counters.
    fn decode_stats(&self) -> DecodeStats;

    /// Rule for the first diff applied on top of a REST snapshot whose last update id is
    /// `snapshot_id` (in-band snapshots are in stream order: the next diff is checked with
    /// [`FeedAdapter::next_diff`]).
    fn first_diff(&self, snapshot_id: u64, diff: &DiffIds) -> SeqCheck;

    /// Rule for each later diff, given the last one applied.
    fn next_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck;

    /// Rule for joining a second connection's diff onto a book whose last applied diff is
    /// `last` (make-before-break). The default is [`FeedAdapter::next_diff`]; venues whose
    /// chain field (`pu`) may differ between connections override it.
    fn join_diff(&self, last: &DiffIds, diff: &DiffIds) -> SeqCheck {
        self.next_diff(last, diff)
    }

    /// A break in a sequence the venue numbers per **connection**, across instruments and
    /// channels (Coinbase Advanced Trade's `sequence_num`), seen by the last
    /// [`FeedAdapter::decode`] (good or bad): `Some(expected)`, the number that should have
    /// come. The lost message may have belonged to any book, so the handler treats every book
    /// of the connection as hit before it handles the frame itself: each gets `Gap` (value:
    /// `expected`) and `Resync` statuses and is rebuilt as [`FeedAdapter::resync_policy`]
    /// says. Called after every decode: keep it a field read. Reset the expectation in
    /// [`FeedAdapter::connect_frames`] (a new connection numbers afresh). `None` (the
    /// default): no such sequence, or no break.
    fn take_connection_gap(&mut self) -> Option<u64> {
        None
    }

    /// Whether two connections' copies of one book update or BBO carry the same ids
    /// ([`DiffIds`], a BBO's `seq`): the venue numbers them per book (Binance, Bybit, OKX),
    /// so redundant lines can take each update's first copy. `false` where it numbers them
    /// per connection (Coinbase Advanced Trade's `sequence_num`) or not at all: an
    /// [`ArbitratedFeed`] then fails over instead: every line keeps its own books, one
    /// line's are published per book, another's take over (a snapshot run) when that line
    /// loses them, drops or stalls. Trades are still taken first copy by their id. Default
    /// `true`.
    fn copies_line_up(&self) -> bool {
        true
    }

    /// The documented cadence of `instrument`'s `kind` stream, `None` when it is not
    /// subscribed (read on setup and after each run-time (un)subscribe; control path). The
    /// default treats every stream as event-driven ([`Cadence::EVENT_DRIVEN`]): only its own
    /// history counts, above a floor of 1 s.
    fn cadence(&self, instrument: InstrumentId, kind: StreamKind) -> Option<Cadence> {
        let _ = (instrument, kind);
        Some(Cadence::EVENT_DRIVEN)
    }
}
