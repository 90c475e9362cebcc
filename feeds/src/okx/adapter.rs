//! [`OkxAdapter`]: the [`FeedAdapter`] for OKX v5 public market data.

use tickwire_engine::adapter::{
    AppPing, BookSpec, Cadence, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame,
    Heartbeat, Pacing, RequestBudget, ResyncPolicy, SeqCheck, SnapshotStart, StreamKind,
    mark_snapshot_run,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::{Event, InstrumentId, Registry};

use super::checksum::book_checksum;
use super::decode::{Decoder, arg_key};
use crate::binance::Symbols;

/// The venue name events carry.
pub const VENUE: &str = "okx";

/// OKX's limit on subscribe, unsubscribe and login requests: 480 an hour per connection
/// (venues.md §6).
pub const REQUESTS_PER_HOUR: u32 = 480;

/// An OKX public channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `books`: 400 levels, a snapshot then updates every 100 ms.
    Books,
    /// `trades`: trades (possibly aggregated per taker order).
    Trades,
    /// `bbo-tbt`: best bid and offer, tick by tick.
    BboTbt,
}

impl Channel {
    /// The channel's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Books => "books",
            Channel::Trades => "trades",
            Channel::BboTbt => "bbo-tbt",
        }
    }

    /// The channel of a wire name.
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "books" => Some(Channel::Books),
            "trades" => Some(Channel::Trades),
            "bbo-tbt" => Some(Channel::BboTbt),
            _ => None,
        }
    }
}

/// One instrument on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The instrument as OKX spells it (`BTC-USDT`, `BTC-USD-SWAP`).
    pub inst_id: String,
    /// The channel.
    pub channel: Channel,
}

impl Subscription {
    /// `inst_id` (upper-cased) on `channel`.
    pub fn new(inst_id: &str, channel: Channel) -> Subscription {
        Subscription {
            inst_id: inst_id.to_ascii_uppercase(),
            channel,
        }
    }

    /// Every instrument on every channel.
    pub fn product<S: AsRef<str>>(inst_ids: &[S], channels: &[Channel]) -> Vec<Subscription> {
        let mut v = Vec::with_capacity(inst_ids.len() * channels.len());
        for i in inst_ids {
            for c in channels {
                v.push(Subscription::new(i.as_ref(), *c));
            }
        }
        v
    }

    /// An instId of OKX's alphabet: 1 to 40 upper-case letters, digits and `-`.
    pub fn is_valid(&self) -> bool {
        let b = self.inst_id.as_bytes();
        !b.is_empty()
            && b.len() <= 40
            && b.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'-')
    }

    /// The topic text [`OkxAdapter::parse_topic`] reads: `channel:instId` (`books:BTC-USDT`).
    pub fn topic(&self) -> String {
        format!("{}:{}", self.channel.name(), self.inst_id)
    }

    /// Reads `channel:instId`.
    pub fn from_topic(topic: &str) -> Option<Subscription> {
        let (c, i) = topic.split_once(':')?;
        let s = Subscription::new(i, Channel::from_name(c)?);
        s.is_valid().then_some(s)
    }

    fn arg_key(&self) -> u64 {
        arg_key(self.channel.name().as_bytes(), self.inst_id.as_bytes())
    }
}

/// OKX settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OkxConfig {
    /// The public WebSocket URL.
    pub ws_url: String,
    /// The REST base for `GET /api/v5/market/books`.
    pub rest_base: String,
    /// Levels a side of the validating books (`books` sends 400).
    pub book_depth: usize,
    /// Keep books in sync (sequence, checksum, resync); off: diffs are published as they
    /// come.
    pub book_sync: bool,
    /// Subscription args per request frame (OKX allows 64 KB of args per request).
    pub args_per_frame: usize,
    /// Least gap between two request frames, ns.
    pub send_interval_ns: u64,
    /// Requests per hour per connection (OKX: 480).
    pub requests_per_hour: u32,
    /// How long after a (re)subscribe to wait for an in-band snapshot before the REST start
    /// (venues.md §12), ns.
    pub snapshot_grace_ns: u64,
    /// Text `ping` when this long passed since the last one, ns (OKX drops a connection
    /// silent for 30 s).
    pub ping_interval_ns: u64,
    /// The `pong` must come within this, ns.
    pub pong_timeout_ns: u64,
    /// Depth of REST snapshots (`sz`, at most 400).
    pub snapshot_depth: u32,
    /// Processes on this IP spending the same REST budget (shards of one universe in
    /// processes of their own, [`crate::spread`]): this one keeps to its share of
    /// [`okx_limits`](crate::okx::okx_limits). 1: alone.
    pub rest_processes: u32,
}

impl Default for OkxConfig {
    fn default() -> OkxConfig {
        OkxConfig {
            ws_url: "wss://ws.okx.com:8443/ws/v5/public".into(),
            rest_base: "https://www.okx.com".into(),
            book_depth: 400,
            book_sync: true,
            args_per_frame: 50,
            send_interval_ns: 100_000_000,
            requests_per_hour: REQUESTS_PER_HOUR,
            snapshot_grace_ns: 3_000_000_000,
            ping_interval_ns: 20_000_000_000,
            pong_timeout_ns: 5_000_000_000,
            snapshot_depth: 400,
            rest_processes: 1,
        }
    }
}

impl OkxConfig {
    /// The REST snapshot URL of `inst_id`.
    pub fn snapshot_url(&self, inst_id: &str) -> String {
        format!(
            "{}/api/v5/market/books?instId={inst_id}&sz={}",
            self.rest_base.trim_end_matches('/'),
            self.snapshot_depth
        )
    }
}

/// Why an adapter could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No subscriptions.
    #[error("no subscriptions")]
    Empty,
    /// An instId outside OKX's alphabet (see [`Subscription::is_valid`]).
    #[error("an instId is not 1 to 40 upper-case letters, digits and '-'")]
    InvalidInstrument,
}

/// A request waiting for its answer: (request id, arg, subscribe?).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    id: u64,
    arg: u64,
    subscribe: bool,
}

/// OKX v5 public adapter for one connection.
pub struct OkxAdapter {
    config: OkxConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    decoder: Decoder,
    next_id: u64,
    pending: Vec<Pending>,
}

impl OkxAdapter {
    /// An adapter for `subs` (interned into `registry`).
    pub fn new(
        config: OkxConfig,
        subs: &[Subscription],
        registry: &Registry,
    ) -> Result<OkxAdapter, PlanError> {
        if subs.is_empty() {
            return Err(PlanError::Empty);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(PlanError::InvalidInstrument);
        }
        let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        let mut symbols = Symbols::new(VENUE);
        for s in &unique {
            symbols.add(registry, &s.inst_id);
        }
        Ok(OkxAdapter {
            config,
            registry: registry.clone(),
            subs: unique,
            decoder: Decoder::new(symbols),
            next_id: 1,
            pending: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OkxConfig {
        &self.config
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }

    /// The frame decoder (its counters).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The instrument of `inst_id`.
    pub fn instrument(&self, inst_id: &str) -> Option<InstrumentId> {
        self.registry.lookup(VENUE, &inst_id.to_ascii_uppercase())
    }

    /// Pushes `op` frames for `subs`, [`OkxConfig::args_per_frame`] args each, tracking
    /// every arg until its answer. instIds are validated (no escaping needed).
    fn request_frames(&mut self, op: &str, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let subscribe = op == "subscribe";
        for chunk in subs.chunks(self.config.args_per_frame.max(1)) {
            let id = self.next_id;
            self.next_id += 1;
            let mut frame = format!("{{\"op\":\"{op}\",\"args\":[");
            for (i, s) in chunk.iter().enumerate() {
                if i > 0 {
                    frame.push(',');
                }
                frame.push_str(&format!(
                    "{{\"channel\":\"{}\",\"instId\":\"{}\"}}",
                    s.channel.name(),
                    s.inst_id
                ));
                self.pending.push(Pending {
                    id,
                    arg: s.arg_key(),
                    subscribe,
                });
            }
            frame.push_str("]}");
            out.push(frame.into_bytes());
        }
    }

    /// The request an answer with `arg` is for: the oldest pending one of that arg and
    /// kind, or (an error that names no arg: OKX answers in order) the oldest of all.
    fn answer(&mut self, arg: u64, subscribe: bool, any: bool) -> Option<u64> {
        let i = self
            .pending
            .iter()
            .position(|p| p.arg == arg && (p.subscribe == subscribe || any))
            .or_else(|| {
                (any && arg == 0)
                    .then_some(0)
                    .filter(|_| !self.pending.is_empty())
            })?;
        Some(self.pending.remove(i).id)
    }
}

impl FeedAdapter for OkxAdapter {
    type Subscription = Subscription;

    /// `channel:instId`, e.g. `books:BTC-USDT`.
    fn parse_topic(&self, topic: &str) -> Option<Subscription> {
        Subscription::from_topic(topic)
    }

    fn venue(&self) -> &str {
        VENUE
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.config.ws_url.clone(),
            headers: Vec::new(),
        }
    }

    /// OKX closes a connection silent for 30 s: a text `ping` every 20 s (other connectors
    /// use 20–29 s), its `pong` due within [`OkxConfig::pong_timeout_ns`].
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: Some(AppPing {
                interval_ns: self.config.ping_interval_ns,
                payload: b"ping",
            }),
            pong_timeout_ns: self.config.pong_timeout_ns,
            stale_after_ns: Some(60_000_000_000),
        }
    }

    /// Request frames paced, within 480 requests an hour per connection.
    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: self.config.send_interval_ns,
            budget: Some(RequestBudget {
                requests: self.config.requests_per_hour,
                window_ns: 3_600_000_000_000,
            }),
        }
    }

    /// A gap resubscribes the book's instId alone (venues.md §6).
    fn resync_policy(&self) -> ResyncPolicy {
        ResyncPolicy::Resubscribe
    }

    /// In-band when OKX sends the snapshot, else the REST start (venues.md §12).
    fn snapshot_start(&self) -> SnapshotStart {
        SnapshotStart::InBandElseRest {
            grace_ns: self.config.snapshot_grace_ns,
        }
    }

    fn books(&self) -> Vec<BookSpec> {
        if !self.config.book_sync {
            return Vec::new();
        }
        let mut specs: Vec<BookSpec> = Vec::new();
        for s in &self.subs {
            if s.channel != Channel::Books {
                continue;
            }
            if let Some(instrument) = self.instrument(&s.inst_id) {
                if !specs.iter().any(|b| b.instrument == instrument) {
                    specs.push(BookSpec {
                        instrument,
                        config: BookConfig::with_depth(self.config.book_depth),
                    });
                }
            }
        }
        specs
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        self.decoder.symbols().instruments()
    }

    /// A session starts with no subscriptions: every current one is requested.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        let subs = self.subs.clone();
        self.request_frames("subscribe", &subs, out);
    }

    fn subscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let mut new: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if s.is_valid() && !self.subs.contains(s) && !new.contains(s) {
                new.push(s.clone());
            }
        }
        for s in &new {
            self.decoder.symbols_mut().add(&self.registry, &s.inst_id);
        }
        self.subs.extend(new.iter().cloned());
        self.request_frames("subscribe", &new, out);
    }

    fn unsubscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let gone: Vec<Subscription> = subs
            .iter()
            .filter(|s| self.subs.contains(s))
            .cloned()
            .collect();
        self.subs.retain(|s| !gone.contains(s));
        self.request_frames("unsubscribe", &gone, out);
    }

    /// Unsubscribe then subscribe `books` of the instrument: OKX sends a fresh snapshot.
    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let Some(name) = self.registry.name(instrument) else {
            return;
        };
        let sub = Subscription::new(&name.symbol, Channel::Books);
        if !self.subs.contains(&sub) {
            return;
        }
        let one = [sub];
        self.request_frames("unsubscribe", &one, out);
        self.request_frames("subscribe", &one, out);
    }

    fn book_checksum(&self, _instrument: InstrumentId, book: &Book) -> Option<u32> {
        Some(book_checksum(book) as u32)
    }

    fn pending_acks(&self) -> usize {
        self.pending.len()
    }

    fn expire_acks(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        n
    }

    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let start = out.len();
        let frame = self.decoder.decode(payload, recv_ts, out)?;
        Ok(match frame {
            Frame::Ack { .. } => {
                let r = self.decoder.last_reply();
                match self.answer(r.arg, r.subscribe, false) {
                    Some(id) => Frame::Ack { id },
                    None => Frame::Control, // an answer to nothing we asked
                }
            }
            Frame::SubscriptionError { code, .. } => {
                let r = self.decoder.last_reply();
                Frame::SubscriptionError {
                    id: self.answer(r.arg, r.subscribe, true),
                    code,
                }
            }
            // Without book sync a book message's levels are published as they are.
            Frame::BookDiff { .. } if !self.config.book_sync => Frame::Market,
            Frame::BookSnapshot { .. } if !self.config.book_sync => {
                mark_snapshot_run(&mut out[start..]);
                Frame::Market
            }
            f => f,
        })
    }

    fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// The REST start (venues.md §12): buffered updates with `seqId <= snapshot seqId` are
    /// dropped; the first applied satisfies `prevSeqId <= snapshot seqId < seqId`; an update
    /// whose `prevSeqId` is past the snapshot means the snapshot is too old (fetched again).
    fn first_diff(&self, snapshot_id: u64, d: &DiffIds) -> SeqCheck {
        if d.last <= snapshot_id {
            return SeqCheck::Stale;
        }
        match d.prev {
            Some(prev) if prev <= snapshot_id => SeqCheck::Apply,
            _ => SeqCheck::Gap,
        }
    }

    /// `prevSeqId == last seqId`, nothing else (venues.md §6, §12): this covers the
    /// keep-alive (empty, `seqId == prevSeqId`) and the reset after maintenance (`seqId <
    /// prevSeqId`), both applied. A capture from before `seqId` existed (ids 0, no `prev`) is
    /// chained by its checksum alone.
    fn next_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        match d.prev {
            Some(prev) if prev == last.last => SeqCheck::Apply,
            None if d.last == 0 && last.last == 0 && last.prev.is_none() => SeqCheck::Apply,
            _ => SeqCheck::Gap,
        }
    }

    /// A second connection's update joins where its `prevSeqId` is the book's last
    /// `seqId`; one already covered (its `seqId` at or below the book's, not a reset) is
    /// skipped.
    fn join_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        match d.prev {
            Some(prev) if prev == last.last => SeqCheck::Apply,
            Some(prev) if d.last <= last.last && prev <= d.last => SeqCheck::Stale,
            _ => self.next_diff(last, d),
        }
    }

    /// `books` pushes every 100 ms when the book changed (stale no sooner than 1 s);
    /// trades and `bbo-tbt` are event-driven.
    fn cadence(&self, instrument: InstrumentId, kind: StreamKind) -> Option<Cadence> {
        let mut found = None;
        for s in &self.subs {
            let k = match s.channel {
                Channel::Trades => StreamKind::Trade,
                Channel::BboTbt => StreamKind::Bbo,
                Channel::Books => StreamKind::Book,
            };
            if k != kind || self.instrument(&s.inst_id) != Some(instrument) {
                continue;
            }
            found = Some(match s.channel {
                Channel::Books => Cadence::periodic(100_000_000, 1_000_000_000),
                _ => Cadence::EVENT_DRIVEN,
            });
        }
        found
    }
}
