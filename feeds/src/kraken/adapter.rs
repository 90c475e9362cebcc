//! [`KrakenAdapter`]: the [`FeedAdapter`] for Kraken spot WebSocket v2 public data.

use tickwire_engine::adapter::{
    AppPing, BookSpec, Cadence, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame,
    Heartbeat, Pacing, ResyncPolicy, SeqCheck, SnapshotStart, StreamKind, mark_snapshot_run,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::{Event, InstrumentId, Registry};

use super::checksum::book_checksum;
use super::decode::Decoder;
use crate::binance::Symbols;

/// The venue name events carry.
pub const VENUE: &str = "kraken";

/// The application ping (venues.md §4); answered by `{"method":"pong",..}`.
pub const PING: &[u8] = br#"{"method":"ping"}"#;

/// The depths Kraken's `book` channel offers (venues.md §4).
pub const DEPTHS: [u16; 5] = [10, 25, 100, 500, 1000];

/// A Kraken v2 public channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `book`: a snapshot then updates, at [`KrakenConfig::book_depth`] levels a side,
    /// checksummed.
    Book,
    /// `trade`: every trade, with the taker's side.
    Trade,
    /// `ticker` with `event_trigger: "bbo"`: the best bid and offer on every change.
    Ticker,
}

impl Channel {
    /// The channel's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Book => "book",
            Channel::Trade => "trade",
            Channel::Ticker => "ticker",
        }
    }

    /// The channel of a wire name.
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "book" => Some(Channel::Book),
            "trade" => Some(Channel::Trade),
            "ticker" => Some(Channel::Ticker),
            _ => None,
        }
    }
}

/// One pair on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The pair as Kraken v2 spells it (`BTC/USD`).
    pub symbol: String,
    /// The channel.
    pub channel: Channel,
}

impl Subscription {
    /// `symbol` (upper-cased) on `channel`.
    pub fn new(symbol: &str, channel: Channel) -> Subscription {
        Subscription {
            symbol: symbol.to_ascii_uppercase(),
            channel,
        }
    }

    /// Every symbol on every channel.
    pub fn product<S: AsRef<str>>(symbols: &[S], channels: &[Channel]) -> Vec<Subscription> {
        let mut v = Vec::with_capacity(symbols.len() * channels.len());
        for s in symbols {
            for c in channels {
                v.push(Subscription::new(s.as_ref(), *c));
            }
        }
        v
    }

    /// A pair of Kraken's alphabet: 1 to 32 upper-case letters, digits and `/ . _ -`
    /// (nothing a JSON string would need to escape).
    pub fn is_valid(&self) -> bool {
        let b = self.symbol.as_bytes();
        !b.is_empty()
            && b.len() <= 32
            && b.iter().all(|c| {
                c.is_ascii_uppercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'/' | b'.' | b'_' | b'-')
            })
    }

    /// The topic text [`KrakenAdapter::parse_topic`] reads: `channel:SYMBOL` (`book:BTC/USD`).
    pub fn topic(&self) -> String {
        format!("{}:{}", self.channel.name(), self.symbol)
    }

    /// Reads `channel:SYMBOL`.
    pub fn from_topic(topic: &str) -> Option<Subscription> {
        let (c, s) = topic.split_once(':')?;
        let s = Subscription::new(s, Channel::from_name(c)?);
        s.is_valid().then_some(s)
    }
}

/// Kraken settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrakenConfig {
    /// The public WebSocket URL.
    pub ws_url: String,
    /// The `book` depth subscribed (10, 25, 100, 500 or 1000); the validating books hold
    /// exactly this many levels a side, so levels pushed out are truncated as Kraken does.
    pub book_depth: u16,
    /// Keep books in sync (checksum, resync); off: book messages are published as they come.
    pub book_sync: bool,
    /// Check the CRC32 after every book message (on by default, venues.md §4).
    pub verify_checksum: bool,
    /// Subscribe the `instrument` channel for the pairs' precisions (else the checksum
    /// renders at the scales the book learned from the wire).
    pub instrument_channel: bool,
    /// Symbols per subscribe frame.
    pub symbols_per_frame: usize,
    /// Least gap between two request frames, ns.
    pub send_interval_ns: u64,
    /// `{"method":"ping"}` this often, ns.
    pub ping_interval_ns: u64,
    /// The pong must come within this, ns.
    pub pong_timeout_ns: u64,
    /// No message at all for this long (the `heartbeat` channel comes every second while
    /// idle) recycles the connection, ns.
    pub idle_timeout_ns: u64,
}

impl Default for KrakenConfig {
    fn default() -> KrakenConfig {
        KrakenConfig {
            ws_url: "wss://ws.kraken.com/v2".into(),
            book_depth: 10,
            book_sync: true,
            verify_checksum: true,
            instrument_channel: true,
            symbols_per_frame: 50,
            send_interval_ns: 50_000_000,
            ping_interval_ns: 30_000_000_000,
            pong_timeout_ns: 10_000_000_000,
            idle_timeout_ns: 10_000_000_000,
        }
    }
}

/// Why an adapter could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No subscriptions.
    #[error("no subscriptions")]
    Empty,
    /// A symbol outside Kraken's alphabet (see [`Subscription::is_valid`]).
    #[error("a symbol is not 1 to 32 upper-case letters, digits and '/._-'")]
    InvalidSymbol,
    /// A book depth Kraken does not offer.
    #[error("book depth must be one of 10, 25, 100, 500, 1000")]
    InvalidDepth,
}

/// A request waiting for its answers: Kraken answers once per symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    id: u64,
    answers_left: u32,
}

/// Kraken v2 public adapter for one connection.
pub struct KrakenAdapter {
    config: KrakenConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    decoder: Decoder,
    next_id: u64,
    pending: Vec<Pending>,
}

impl KrakenAdapter {
    /// An adapter for `subs` (interned into `registry`).
    pub fn new(
        config: KrakenConfig,
        subs: &[Subscription],
        registry: &Registry,
    ) -> Result<KrakenAdapter, PlanError> {
        if subs.is_empty() {
            return Err(PlanError::Empty);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(PlanError::InvalidSymbol);
        }
        if !DEPTHS.contains(&config.book_depth) {
            return Err(PlanError::InvalidDepth);
        }
        let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        let mut decoder = Decoder::new(Symbols::new(VENUE));
        for s in &unique {
            let id = decoder.symbols_mut().add(registry, &s.symbol);
            decoder.prepare(id);
        }
        Ok(KrakenAdapter {
            config,
            registry: registry.clone(),
            subs: unique,
            decoder,
            next_id: 1,
            pending: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &KrakenConfig {
        &self.config
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }

    /// The frame decoder (its counters, the pairs' precisions).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The frame decoder, mutably (e.g. to set a pair's precision from REST).
    pub fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// The instrument of `symbol`.
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.registry.lookup(VENUE, &symbol.to_ascii_uppercase())
    }

    /// The params of `channel` beyond `channel` and `symbol`.
    fn extra(&self, channel: Channel, subscribe: bool) -> String {
        match channel {
            Channel::Book if subscribe => {
                format!(",\"depth\":{},\"snapshot\":true", self.config.book_depth)
            }
            Channel::Book => format!(",\"depth\":{}", self.config.book_depth),
            Channel::Trade if subscribe => ",\"snapshot\":false".into(),
            Channel::Ticker => ",\"event_trigger\":\"bbo\"".into(),
            Channel::Trade => String::new(),
        }
    }

    /// Pushes `method` frames for `subs`, one per channel and
    /// [`KrakenConfig::symbols_per_frame`] symbols, tracking one answer per symbol. Symbols
    /// are validated (no escaping needed).
    fn request_frames(&mut self, method: &str, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let subscribe = method == "subscribe";
        for channel in [Channel::Book, Channel::Trade, Channel::Ticker] {
            let symbols: Vec<&str> = subs
                .iter()
                .filter(|s| s.channel == channel)
                .map(|s| s.symbol.as_str())
                .collect();
            for chunk in symbols.chunks(self.config.symbols_per_frame.max(1)) {
                let id = self.next_id;
                self.next_id += 1;
                let list = chunk
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(",");
                let frame = format!(
                    "{{\"method\":\"{method}\",\"params\":{{\"channel\":\"{}\",\"symbol\":[{list}]{}}},\"req_id\":{id}}}",
                    channel.name(),
                    self.extra(channel, subscribe)
                );
                self.pending.push(Pending {
                    id,
                    answers_left: chunk.len() as u32,
                });
                out.push(frame.into_bytes());
            }
        }
    }

    /// Counts one answer to request `id`; `true` when it was the last one expected.
    fn answered(&mut self, id: u64) -> Option<bool> {
        let i = self.pending.iter().position(|p| p.id == id)?;
        let p = &mut self.pending[i];
        p.answers_left = p.answers_left.saturating_sub(1);
        if p.answers_left == 0 {
            self.pending.remove(i);
            return Some(true);
        }
        Some(false)
    }
}

impl FeedAdapter for KrakenAdapter {
    type Subscription = Subscription;

    /// `channel:SYMBOL`, e.g. `book:BTC/USD`.
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

    /// `{"method":"ping"}` every 30 s with a pong deadline; the `heartbeat` channel (every
    /// second while idle) keeps traffic flowing, so a silent connection is recycled after
    /// [`KrakenConfig::idle_timeout_ns`].
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: Some(AppPing {
                interval_ns: self.config.ping_interval_ns,
                payload: PING,
            }),
            pong_timeout_ns: self.config.pong_timeout_ns,
            stale_after_ns: Some(self.config.idle_timeout_ns),
        }
    }

    /// Request frames spaced; Kraken's rate limit is dynamic (no fixed budget documented).
    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: self.config.send_interval_ns,
            budget: None,
        }
    }

    /// A checksum mismatch resubscribes the one symbol's book (venues.md §4).
    fn resync_policy(&self) -> ResyncPolicy {
        ResyncPolicy::Resubscribe
    }

    fn snapshot_start(&self) -> SnapshotStart {
        SnapshotStart::InBand
    }

    fn books(&self) -> Vec<BookSpec> {
        if !self.config.book_sync {
            return Vec::new();
        }
        let mut specs: Vec<BookSpec> = Vec::new();
        for s in &self.subs {
            if s.channel != Channel::Book {
                continue;
            }
            if let Some(instrument) = self.instrument(&s.symbol) {
                if !specs.iter().any(|b| b.instrument == instrument) {
                    specs.push(BookSpec {
                        instrument,
                        config: BookConfig::with_depth(usize::from(self.config.book_depth)),
                    });
                }
            }
        }
        specs
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        self.decoder.symbols().instruments()
    }

    /// A session starts with no subscriptions: every current one is requested, the
    /// `instrument` channel first (when configured) so the precisions come early.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        if self.config.instrument_channel && self.config.verify_checksum {
            let id = self.next_id;
            self.next_id += 1;
            self.pending.push(Pending {
                id,
                answers_left: 1,
            });
            out.push(
                format!(
                    "{{\"method\":\"subscribe\",\"params\":{{\"channel\":\"instrument\",\"snapshot\":true}},\"req_id\":{id}}}"
                )
                .into_bytes(),
            );
        }
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
            let id = self.decoder.symbols_mut().add(&self.registry, &s.symbol);
            self.decoder.prepare(id);
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

    /// Unsubscribe then subscribe the symbol's `book`: Kraken sends a fresh snapshot.
    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let Some(name) = self.registry.name(instrument) else {
            return;
        };
        let sub = Subscription::new(&name.symbol, Channel::Book);
        if !self.subs.contains(&sub) {
            return;
        }
        let one = [sub];
        self.request_frames("unsubscribe", &one, out);
        self.request_frames("subscribe", &one, out);
    }

    /// Kraken's CRC32 of the top 10 at the pair's precision ([`super::checksum`]).
    fn book_checksum(&self, instrument: InstrumentId, book: &Book) -> Option<u32> {
        self.config
            .verify_checksum
            .then(|| book_checksum(book, self.decoder.precision(instrument)))
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
            Frame::Ack { id } => match self.answered(id) {
                Some(true) => Frame::Ack { id },
                // One of several per-symbol answers, or an answer to nothing we asked.
                _ => Frame::Control,
            },
            Frame::SubscriptionError { id: Some(id), code } => {
                let known = self.answered(id).is_some();
                Frame::SubscriptionError {
                    id: known.then_some(id),
                    code,
                }
            }
            Frame::BookDiff { .. } if !self.config.book_sync => Frame::Market,
            Frame::BookSnapshot { .. } if !self.config.book_sync => {
                mark_snapshot_run(&mut out[start..]);
                Frame::Market
            }
            Frame::BookDiff {
                instrument,
                ids,
                checksum,
            } => Frame::BookDiff {
                instrument,
                ids,
                checksum: checksum.filter(|_| self.config.verify_checksum),
            },
            Frame::BookSnapshot {
                instrument,
                ids,
                checksum,
            } => Frame::BookSnapshot {
                instrument,
                ids,
                checksum: checksum.filter(|_| self.config.verify_checksum),
            },
            f => f,
        })
    }

    fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// Kraken has no sequence: books start in-band only, every diff applies.
    fn first_diff(&self, _snapshot_id: u64, _diff: &DiffIds) -> SeqCheck {
        SeqCheck::Apply
    }

    /// No sequence: every diff applies; the checksum after it is the integrity check.
    fn next_diff(&self, _last: &DiffIds, _diff: &DiffIds) -> SeqCheck {
        SeqCheck::Apply
    }

    /// Updates are absolute quantities at a price: joining a second connection's stream is
    /// applying it, and the checksum after each message proves the joined book.
    fn join_diff(&self, _last: &DiffIds, _diff: &DiffIds) -> SeqCheck {
        SeqCheck::Apply
    }

    /// No ids to line two connections' copies up by: redundant lines fail over between
    /// their books, each proved by the checksum after every update.
    fn copies_line_up(&self) -> bool {
        false
    }

    /// Every subscribed stream is event-driven (books, trades, BBO on change).
    fn cadence(&self, instrument: InstrumentId, kind: StreamKind) -> Option<Cadence> {
        let mut found = None;
        for s in &self.subs {
            let k = match s.channel {
                Channel::Trade => StreamKind::Trade,
                Channel::Ticker => StreamKind::Bbo,
                Channel::Book => StreamKind::Book,
            };
            if k == kind && self.instrument(&s.symbol) == Some(instrument) {
                found = Some(Cadence::EVENT_DRIVEN);
            }
        }
        found
    }
}
