//! [`CoinbaseAdapter`]: the [`FeedAdapter`] for Coinbase Advanced Trade public market data.

use std::collections::VecDeque;

use tickwire_engine::adapter::{
    BookSpec, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame, Heartbeat, Pacing,
    ResyncPolicy, SeqCheck, SnapshotStart, mark_snapshot_run,
};
use tickwire_engine::book::BookConfig;
use tickwire_engine::{Event, InstrumentId, Registry};

use super::decode::{Decoder, TradeSide};
use super::subscription::{
    Channel, L2_PRODUCTS_PER_CONNECTION, PRODUCTS_PER_CONNECTION, Subscription,
};
use crate::binance::Symbols;

/// The venue name events carry.
pub const VENUE: &str = "coinbase";

/// The production market-data endpoint (venues.md §3a).
pub const WS_URL: &str = "wss://advanced-trade-ws.coinbase.com";

/// The subscribe request of the `heartbeats` channel, sent first on every connection: most
/// channels close after 60–90 s without updates unless it is on (venues.md §3a, §12).
pub const HEARTBEATS: &[u8] = br#"{"type":"subscribe","channel":"heartbeats"}"#;

/// Largest message a Coinbase connection accepts by default: a `level2` snapshot is the
/// whole book in one frame (megabytes for BTC-USD; other clients raised their limit to
/// 100 MiB, venues.md §12).
pub const MAX_MESSAGE: usize = 128 << 20;

/// Coinbase settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinbaseConfig {
    /// WebSocket URL (a simulator's `ws://127.0.0.1:9100/`); `None`: [`WS_URL`].
    pub ws_url: Option<String>,
    /// Keep books in sync (validating book, resync on a gap); off: book messages are
    /// published as they come (snapshots flagged as SNAPSHOT runs).
    pub book_sync: bool,
    /// Levels a side the validating book (and each published snapshot run) holds. The
    /// venue sends the whole book; levels beyond this are dropped (counted by the book).
    pub depth: usize,
    /// Least gap between two request frames on one connection, ns. Coinbase allows 8
    /// unauthenticated messages a second per IP: the launcher multiplies this by the number
    /// of connections it opens.
    pub send_interval_ns: u64,
    /// No message for this long recycles the connection, ns (`heartbeats` ticks every
    /// second).
    pub stale_after_ns: u64,
    /// `level2` products on one connection (planning; about 16 work, 32 are refused).
    pub max_l2_products: usize,
    /// Products (any channel) on one connection (planning).
    pub max_products: usize,
    /// How the trades' `side` is read ([`TradeSide`]).
    pub trade_side: TradeSide,
}

impl Default for CoinbaseConfig {
    fn default() -> CoinbaseConfig {
        CoinbaseConfig {
            ws_url: None,
            book_sync: true,
            depth: 5000,
            send_interval_ns: 150_000_000,
            stale_after_ns: 10_000_000_000,
            max_l2_products: L2_PRODUCTS_PER_CONNECTION,
            max_products: PRODUCTS_PER_CONNECTION,
            trade_side: TradeSide::Maker,
        }
    }
}

impl CoinbaseConfig {
    /// The WebSocket URL.
    pub fn url(&self) -> String {
        self.ws_url.clone().unwrap_or_else(|| WS_URL.to_owned())
    }
}

/// Why an adapter could not be built for a set of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No subscriptions.
    #[error("no subscriptions")]
    Empty,
    /// A product outside Coinbase's alphabet.
    #[error("a product is not 1 to 32 upper-case letters, digits or '-' (like SOL-USD)")]
    InvalidProduct,
    /// More `level2` products than one connection may carry: split them with
    /// [`super::plan_connections`].
    #[error("{count} level2 products exceed the {max} one connection carries")]
    TooManyL2 {
        /// Products asked for.
        count: usize,
        /// The limit in force.
        max: usize,
    },
}

/// Coinbase adapter for one connection. Build one per group of
/// [`super::plan_connections`].
pub struct CoinbaseAdapter {
    config: CoinbaseConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    decoder: Decoder,
    next_id: u64,
    /// Requests not answered yet, oldest first (the venue's `subscriptions` answers carry
    /// no id: each answers the oldest).
    pending: VecDeque<u64>,
    /// The `sequence_num` the next message must carry (`None`: none seen on this
    /// connection yet).
    expected: Option<u64>,
    /// A break seen by the last decode: the number that should have come.
    gap: Option<u64>,
}

impl CoinbaseAdapter {
    /// An adapter for `subs` (interned into `registry`).
    pub fn new(
        config: CoinbaseConfig,
        subs: &[Subscription],
        registry: &Registry,
    ) -> Result<CoinbaseAdapter, PlanError> {
        if subs.is_empty() {
            return Err(PlanError::Empty);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(PlanError::InvalidProduct);
        }
        let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        let l2 = unique
            .iter()
            .filter(|s| s.channel == Channel::Level2)
            .count();
        if l2 > config.max_l2_products.max(1) {
            return Err(PlanError::TooManyL2 {
                count: l2,
                max: config.max_l2_products.max(1),
            });
        }
        let decoder = Decoder::new(Symbols::new(VENUE), config.trade_side);
        let mut a = CoinbaseAdapter {
            config,
            registry: registry.clone(),
            subs: Vec::new(),
            decoder,
            next_id: 1,
            pending: VecDeque::new(),
            expected: None,
            gap: None,
        };
        a.add(unique);
        Ok(a)
    }

    fn add(&mut self, subs: Vec<Subscription>) {
        for s in &subs {
            self.decoder.symbols_mut().add(&self.registry, &s.product);
        }
        self.subs.extend(subs);
    }

    /// The frame decoder (its counters).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The settings.
    pub fn config(&self) -> &CoinbaseConfig {
        &self.config
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }

    /// The instrument of `product`.
    pub fn instrument(&self, product: &str) -> Option<InstrumentId> {
        self.registry.lookup(VENUE, product)
    }

    /// The `sequence_num` the next message must carry, once one was seen.
    pub fn expected_sequence(&self) -> Option<u64> {
        self.expected
    }

    /// Pushes one `op` request per channel for `subs` (products are validated: nothing to
    /// escape), each awaiting an answer.
    fn request_frames(&mut self, op: &str, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        for ch in [Channel::Level2, Channel::Trades, Channel::Ticker] {
            let mut frame = String::new();
            for s in subs.iter().filter(|s| s.channel == ch) {
                if frame.is_empty() {
                    frame = format!("{{\"type\":\"{op}\",\"product_ids\":[");
                } else {
                    frame.push(',');
                }
                frame.push('"');
                frame.push_str(&s.product);
                frame.push('"');
            }
            if frame.is_empty() {
                continue;
            }
            frame.push_str("],\"channel\":\"");
            frame.push_str(ch.name());
            frame.push_str("\"}");
            self.track_request();
            out.push(frame.into_bytes());
        }
    }

    fn track_request(&mut self) {
        self.pending.push_back(self.next_id);
        self.next_id += 1;
    }

    /// Checks one message's `sequence_num` against the connection's count.
    #[inline]
    fn check_sequence(&mut self, n: u64) {
        match self.expected {
            Some(e) if n > e => {
                self.gap = Some(e);
                self.expected = Some(n + 1);
            }
            // A repeat or an older number: never moves the count back.
            Some(e) if n < e => {}
            _ => self.expected = Some(n + 1),
        }
    }
}

impl FeedAdapter for CoinbaseAdapter {
    type Subscription = Subscription;

    fn venue(&self) -> &str {
        VENUE
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.config.url(),
            headers: Vec::new(),
        }
    }

    /// No application ping: the `heartbeats` channel ticks every second, so silence past
    /// [`CoinbaseConfig::stale_after_ns`] is a dead connection. WebSocket pings stay as the
    /// connection options set them.
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: None,
            pong_timeout_ns: 10_000_000_000,
            stale_after_ns: Some(self.config.stale_after_ns),
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: self.config.send_interval_ns,
            budget: None,
        }
    }

    /// A book is rebuilt by unsubscribing and subscribing its product's `level2` again: the
    /// venue sends a new snapshot (venues.md §3a).
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
        for s in self.subs.iter().filter(|s| s.channel == Channel::Level2) {
            if let Some(instrument) = self.instrument(&s.product) {
                if !specs.iter().any(|b| b.instrument == instrument) {
                    specs.push(BookSpec {
                        instrument,
                        config: BookConfig::with_depth(self.config.depth),
                    });
                }
            }
        }
        specs
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        self.decoder.symbols().instruments()
    }

    /// `heartbeats` first (again on every connection, §12), then one request per channel.
    /// The new connection numbers its messages afresh.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        self.expected = None;
        self.gap = None;
        self.track_request();
        out.push(HEARTBEATS.to_vec());
        let subs = self.subs.clone();
        self.request_frames("subscribe", &subs, out);
    }

    /// Adds the new, valid subscriptions (a `level2` past the connection's limit is skipped:
    /// the venue would refuse the whole session) and requests them.
    fn subscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let mut l2 = self
            .subs
            .iter()
            .filter(|s| s.channel == Channel::Level2)
            .count();
        let mut new: Vec<Subscription> = Vec::new();
        for s in subs {
            if !s.is_valid() || self.subs.contains(s) || new.contains(s) {
                continue;
            }
            if s.channel == Channel::Level2 {
                if l2 >= self.config.max_l2_products.max(1) {
                    continue;
                }
                l2 += 1;
            }
            new.push(s.clone());
        }
        if new.is_empty() {
            return;
        }
        self.add(new.clone());
        self.request_frames("subscribe", &new, out);
    }

    fn unsubscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let gone: Vec<Subscription> = self
            .subs
            .iter()
            .filter(|s| subs.contains(s))
            .cloned()
            .collect();
        self.subs.retain(|s| !subs.contains(s));
        if !gone.is_empty() {
            self.request_frames("unsubscribe", &gone, out);
        }
    }

    /// Unsubscribe and subscribe `instrument`'s `level2` alone.
    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let sub = self
            .subs
            .iter()
            .find(|s| {
                s.channel == Channel::Level2 && self.instrument(&s.product) == Some(instrument)
            })
            .cloned();
        if let Some(s) = sub {
            let one = [s];
            self.request_frames("unsubscribe", &one, out);
            self.request_frames("subscribe", &one, out);
        }
    }

    fn parse_topic(&self, topic: &str) -> Option<Subscription> {
        Subscription::from_topic(topic)
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
        let decoded = self.decoder.decode(payload, recv_ts, out);
        if let Some(n) = self.decoder.take_sequence() {
            self.check_sequence(n);
        }
        let frame = decoded?;
        match frame {
            // The venue's answers carry no id: each answers the oldest request.
            Frame::Ack { .. } => {
                return Ok(match self.pending.pop_front() {
                    Some(id) => Frame::Ack { id },
                    None => Frame::Control,
                });
            }
            Frame::SubscriptionError { .. } => {
                return Ok(Frame::SubscriptionError {
                    id: self.pending.pop_front(),
                    code: 0,
                });
            }
            Frame::BookDiff { .. } if !self.config.book_sync => return Ok(Frame::Market),
            Frame::BookSnapshot { .. } if !self.config.book_sync => {
                if let Some(run) = out.get_mut(start..) {
                    mark_snapshot_run(run);
                }
                return Ok(Frame::Market);
            }
            _ => {}
        }
        Ok(frame)
    }

    fn take_connection_gap(&mut self) -> Option<u64> {
        self.gap.take()
    }

    fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// `sequence_num` counts the connection's messages: a book update and a ticker carry a
    /// different number on every connection.
    fn copies_line_up(&self) -> bool {
        false
    }

    /// In-band snapshots are in stream order: only a later message applies.
    fn first_diff(&self, snapshot_id: u64, d: &DiffIds) -> SeqCheck {
        if d.last <= snapshot_id {
            SeqCheck::Stale
        } else {
            SeqCheck::Apply
        }
    }

    /// A book's ids are the connection's `sequence_num`, shared with every channel and
    /// product: its own updates skip numbers by design. Continuity is the connection's
    /// ([`FeedAdapter::take_connection_gap`]); a book only asks its updates to move forward.
    fn next_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        self.first_diff(last.last, d)
    }
}
