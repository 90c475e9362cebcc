//! What the simulator server asks of a venue: [`SimVenue`] per server (symbols, the model,
//! feeds for new connections, REST routes) and [`SimFeed`] per WebSocket connection (the
//! next message to send, the control protocol, content faults).

use std::any::Any;
use std::fmt;
use std::time::Duration;

use super::tape::Tape;
use super::{Book, Model, SymbolSpec};

/// What a control request (a client text frame) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlOutcome {
    /// A subscribe was accepted (the venue may send snapshots next, before the tape).
    Subscribed,
    /// An unsubscribe was accepted.
    Unsubscribed,
    /// A list of subscriptions was answered.
    Listed,
    /// A connection property was read or set.
    Property,
    /// An application-level ping was answered (Bybit `{"op":"ping"}`, OKX text `ping`).
    Pong,
    /// Refused with an error reply (bad JSON, method, id, params or name).
    Rejected,
}

/// A fault in message content, the same kinds for every venue; each breaks what the
/// venue's own rules check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimFault {
    /// The next book diff the connection would send is skipped: the venue's sequence chain
    /// breaks once.
    Gap,
    /// The next data message is cut in half (invalid JSON, still valid UTF-8).
    Malformed,
    /// The next book diff carries a wrong checksum (venues with checksums).
    Checksum,
    /// The venue resets a book's sequence (e.g. Bybit `u == 1` or a new snapshot, OKX a
    /// lower `seqId`), as its documentation describes.
    Reset,
}

impl SimFault {
    /// Every kind, for tables and help texts.
    pub const ALL: [SimFault; 4] = [
        SimFault::Gap,
        SimFault::Malformed,
        SimFault::Checksum,
        SimFault::Reset,
    ];

    /// The kind's name in `--faults` (`gap`, `malformed`, `checksum`, `reset`).
    pub fn name(self) -> &'static str {
        match self {
            SimFault::Gap => "gap",
            SimFault::Malformed => "malformed",
            SimFault::Checksum => "checksum",
            SimFault::Reset => "reset",
        }
    }
}

impl fmt::Display for SimFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Content faults a feed has made so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Diffs skipped by [`SimFault::Gap`].
    pub gaps: u64,
    /// Messages cut by [`SimFault::Malformed`].
    pub malformed: u64,
    /// Wrong checksums sent by [`SimFault::Checksum`].
    pub checksums: u64,
    /// Sequence resets made by [`SimFault::Reset`].
    pub resets: u64,
}

/// A WebSocket upgrade request, as the server parsed it.
#[derive(Clone, Copy, Debug)]
pub struct FeedRequest<'a> {
    /// The path without the query, e.g. `/stream` or `/v5/public/spot`.
    pub path: &'a str,
    /// The raw query string (after `?`), possibly empty.
    pub query: &'a str,
    /// Start every message with `"ts":<send time ns>` (the load server's latency probe).
    pub probe: bool,
}

/// An HTTP answer: status line text (e.g. `"200 OK"`) and JSON body.
pub type HttpAnswer = (&'static str, Vec<u8>);

/// A venue's documented session rules, the server's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionDefaults {
    /// Time between the server's WebSocket pings.
    pub ping_interval: Duration,
    /// A ping unanswered this long drops the session.
    pub pong_timeout: Duration,
    /// Client messages allowed per second (`None`: no limit).
    pub inbound_limit: Option<u32>,
}

/// One connection's view of a venue: where it is in the event sequence, what it
/// subscribed to and the content faults waiting to be applied. The server asks it for the
/// next message and frames the bytes.
///
/// `next_message` is the send path: it must allocate nothing once `out` has grown.
pub trait SimFeed: Send {
    /// True when anything is subscribed (data starts at subscription time).
    fn has_subscriptions(&self) -> bool;
    /// The next event this feed will look at.
    fn cursor(&self) -> u64;
    /// Moves the cursor forward to `event` without sending (no-op if already past it).
    fn skip_to(&mut self, event: u64);
    /// Appends the next message to `out` and returns true, or returns false once the
    /// cursor reaches `until`. Snapshots queued by a subscribe come first, then the tape's
    /// subscribed events before `until`. `now_ns` is the send time (ns since the UNIX
    /// epoch).
    fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool;
    /// Handles a control request (`text` is the frame payload; it may be parsed in place)
    /// and appends the reply to `reply` (nothing appended: no reply is sent).
    fn handle_control(&mut self, text: &mut [u8], reply: &mut Vec<u8>) -> ControlOutcome;
    /// Arms a content fault; false when this venue has no such fault (nothing happens).
    fn inject(&mut self, fault: SimFault) -> bool;
    /// Content faults made so far.
    fn faults_made(&self) -> FaultCounts;
    /// Appends the venue's announcement of a server shutdown (Binance `serverShutdown`);
    /// false when the venue has none (the server then only closes).
    fn render_shutdown(&self, now_ns: u64, out: &mut Vec<u8>) -> bool {
        let _ = (now_ns, out);
        false
    }
}

/// A simulated venue, shared by every connection of a server.
pub trait SimVenue: Send + Sync + fmt::Debug {
    /// The registry name, e.g. `binance-usdm`.
    fn name(&self) -> &'static str;
    /// The venue-neutral model: symbols, tapes, books at any event.
    fn model(&self) -> &Model;
    /// The venue's documented ping, pong and inbound-rate rules.
    fn defaults(&self) -> SessionDefaults;
    /// A feed for a WebSocket upgrade to `req`, starting at `start_event`, or the HTTP
    /// answer refusing it (unknown path, bad stream names).
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer>;
    /// Answers a REST request (`method`, `path`, raw `query`) with the venue as it stands
    /// before `event`; `now_ns` fills time fields. `None`: not a route of this venue (the
    /// server answers 404).
    fn rest(
        &self,
        method: &str,
        path: &str,
        query: &str,
        event: u64,
        now_ns: u64,
    ) -> Option<HttpAnswer>;
    /// The REST path and query of a book snapshot of `symbol` (e.g.
    /// `/api/v3/depth?symbol=BTCUSDT&limit=100`), if the venue serves one.
    fn snapshot_path(&self, symbol: &str, limit: u32) -> Option<String> {
        let _ = (symbol, limit);
        None
    }
    /// The venue as [`Any`], to reach its own type (e.g. `binance::sim::Venue`).
    fn as_any(&self) -> &dyn Any;

    /// Number of symbols.
    fn symbol_count(&self) -> usize {
        self.model().symbol_count()
    }
    /// Lower-case symbol names.
    fn lower_names(&self) -> &[String] {
        self.model().lower_names()
    }
    /// The index of a symbol by name, in any case.
    fn symbol_index(&self, name: &str) -> Option<usize> {
        self.model().symbol_index(name)
    }
    /// A symbol's formats.
    fn spec(&self, sym: usize) -> &SymbolSpec {
        self.model().spec(sym)
    }
    /// A symbol's tape.
    fn tape(&self, sym: usize) -> &Tape {
        self.model().tape(sym)
    }
    /// The symbol's book once every event before `event` has happened.
    fn book_at(&self, sym: usize, event: u64) -> Book {
        self.model().book_at(sym, event)
    }
    /// The symbol's last update id once every event before `event` has happened.
    fn update_id_at(&self, sym: usize, event: u64) -> u64 {
        self.model().update_id_at(sym, event)
    }
}
