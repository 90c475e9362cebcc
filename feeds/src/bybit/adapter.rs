//! [`BybitAdapter`]: the [`FeedAdapter`] for Bybit v5 public spot and linear.

use std::collections::HashSet;

use tickwire_engine::adapter::{
    AppPing, BookSpec, Cadence, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame,
    Heartbeat, Pacing, ResyncPolicy, SeqCheck, SnapshotStart, StreamKind, mark_snapshot_run,
};
use tickwire_engine::book::BookConfig;
use tickwire_engine::{Event, InstrumentId, Registry};

use super::decode::Decoder;
use super::subscription::{
    Channel, Depth, MAX_ARGS_CHARS_PER_CONNECTION, Market, Subscription, topics,
};
use crate::binance::Symbols;

/// The production WebSocket host.
pub const WS_BASE: &str = "wss://stream.bybit.com";

/// The application ping (venues.md §5: every 20 s); its `req_id` is not a number, so its
/// reply is never taken for a subscription's ack.
pub const PING: &[u8] = br#"{"req_id":"ping","op":"ping"}"#;

/// Bybit settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BybitConfig {
    /// Spot or linear.
    pub market: Market,
    /// WebSocket base (scheme and host, e.g. a simulator's `ws://127.0.0.1:9100`); `None`:
    /// [`WS_BASE`]. The market's path (`/v5/public/spot`) is appended.
    pub ws_base: Option<String>,
    /// Keep books in sync (validating book, resync on a gap); off: book messages are
    /// published as they come (snapshots flagged as SNAPSHOT runs).
    pub book_sync: bool,
    /// Least gap between two request frames, ns (Bybit documents no rate for public
    /// requests; this keeps a burst of resubscribes gentle).
    pub send_interval_ns: u64,
    /// Application ping interval, ns (20 s recommended).
    pub ping_interval_ns: u64,
    /// A pong must come within this after a ping, ns.
    pub pong_timeout_ns: u64,
    /// Most topics on one connection (planning).
    pub max_topics: usize,
    /// Most characters of topics on one connection (at most 21,000).
    pub max_args_chars: usize,
}

impl BybitConfig {
    /// The defaults for `market`.
    pub fn for_market(market: Market) -> BybitConfig {
        BybitConfig {
            market,
            ws_base: None,
            book_sync: true,
            send_interval_ns: 50_000_000,
            ping_interval_ns: 20_000_000_000,
            pong_timeout_ns: 10_000_000_000,
            max_topics: 400,
            max_args_chars: MAX_ARGS_CHARS_PER_CONNECTION,
        }
    }

    /// The WebSocket URL of the market.
    pub fn url(&self) -> String {
        let base = self.ws_base.as_deref().unwrap_or(WS_BASE);
        format!("{}{}", base.trim_end_matches('/'), self.market.path())
    }
}

/// Why an adapter could not be built for a set of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No subscriptions.
    #[error("no subscriptions")]
    Empty,
    /// A symbol outside Bybit's alphabet (see [`super::valid_symbol`]).
    #[error("a symbol is not 1 to 32 upper-case letters, digits or '-'")]
    InvalidSymbol,
    /// The topics exceed what one connection may carry: split them with
    /// [`super::plan_connections`].
    #[error("{chars} characters of topics exceed the {max} allowed on one connection")]
    TooManyArgs {
        /// Characters asked for.
        chars: usize,
        /// The limit in force.
        max: usize,
    },
    /// Two book depths of one symbol on one connection (their `u` sequences differ, and a
    /// symbol has one book).
    #[error("two book depths of one symbol; subscribe one")]
    TwoDepths,
}

/// Bybit adapter for one connection. Build one per group of [`super::plan_connections`].
pub struct BybitAdapter {
    config: BybitConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    decoder: Decoder,
    next_id: u64,
    pending: Vec<u64>,
}

impl BybitAdapter {
    /// An adapter for `subs` (interned into `registry`).
    pub fn new(
        config: BybitConfig,
        subs: &[Subscription],
        registry: &Registry,
    ) -> Result<BybitAdapter, PlanError> {
        if subs.is_empty() {
            return Err(PlanError::Empty);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(PlanError::InvalidSymbol);
        }
        let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
        let mut seen = HashSet::with_capacity(subs.len());
        for s in subs {
            if seen.insert(s) {
                if let Channel::Book(d) = s.channel {
                    if book_depth(&unique, &s.symbol).is_some_and(|e| e != d) {
                        return Err(PlanError::TwoDepths);
                    }
                }
                unique.push(s.clone());
            }
        }
        let chars: usize = topics(config.market, &unique).iter().map(String::len).sum();
        let max = config.max_args_chars.min(MAX_ARGS_CHARS_PER_CONNECTION);
        if chars > max {
            return Err(PlanError::TooManyArgs { chars, max });
        }
        let decoder = Decoder::new(Symbols::new(config.market.venue()), config.market);
        let mut a = BybitAdapter {
            config,
            registry: registry.clone(),
            subs: Vec::new(),
            decoder,
            next_id: 1,
            pending: Vec::new(),
        };
        a.add(unique);
        Ok(a)
    }

    /// Adds `subs` (valid, new) to the set and the symbol table.
    fn add(&mut self, subs: Vec<Subscription>) {
        self.subs.extend(subs);
        let symbols: Vec<String> = self.subs.iter().map(|s| s.symbol.clone()).collect();
        for sym in symbols {
            let id = self.decoder.symbols_mut().add(&self.registry, &sym);
            let bbo = self.book1_is_bbo(&sym);
            self.decoder.prepare(id, bbo);
        }
    }

    /// Spot: `orderbook.1` is this symbol's BBO when a BBO is subscribed and no level-1
    /// book is.
    fn book1_is_bbo(&self, symbol: &str) -> bool {
        self.config.market == Market::Spot
            && self
                .subs
                .iter()
                .any(|s| s.symbol == symbol && s.channel == Channel::Bbo)
            && book_depth(&self.subs, symbol) != Some(Depth::L1)
    }

    /// The frame decoder (its counters).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The settings.
    pub fn config(&self) -> &BybitConfig {
        &self.config
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }

    /// Request ids sent and not acknowledged.
    pub fn pending_ids(&self) -> &[u64] {
        &self.pending
    }

    /// The instrument of `symbol`.
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.registry.lookup(self.config.market.venue(), symbol)
    }

    /// Pushes `op` requests for `topics`, at most the market's args per request each, and
    /// tracks their ids. Topics are built from validated symbols: nothing to escape.
    fn request_frames(&mut self, op: &str, topics: &[String], out: &mut Vec<Vec<u8>>) {
        for chunk in topics.chunks(self.config.market.args_per_request()) {
            let id = self.next_id;
            self.next_id += 1;
            let mut frame = format!("{{\"req_id\":\"{id}\",\"op\":\"{op}\",\"args\":[");
            for (i, t) in chunk.iter().enumerate() {
                if i > 0 {
                    frame.push(',');
                }
                frame.push('"');
                frame.push_str(t);
                frame.push('"');
            }
            frame.push_str("]}");
            self.pending.push(id);
            out.push(frame.into_bytes());
        }
    }

    fn refresh_bbo_flags(&mut self) {
        let symbols: Vec<String> = self.subs.iter().map(|s| s.symbol.clone()).collect();
        for sym in symbols {
            if let Some(id) = self.instrument(&sym) {
                let bbo = self.book1_is_bbo(&sym);
                self.decoder.prepare(id, bbo);
            }
        }
    }
}

/// The book depth subscribed for `symbol` in `subs`.
fn book_depth(subs: &[Subscription], symbol: &str) -> Option<Depth> {
    subs.iter().find_map(|s| match s.channel {
        Channel::Book(d) if s.symbol == symbol => Some(d),
        _ => None,
    })
}

impl FeedAdapter for BybitAdapter {
    type Subscription = Subscription;

    fn venue(&self) -> &str {
        self.config.market.venue()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            url: self.config.url(),
            headers: Vec::new(),
        }
    }

    /// `{"op":"ping"}` every 20 s, a pong within 10 s; the venue cuts a connection after
    /// about 10 minutes without pings or data, so silence past 60 s (three unanswered ping
    /// rounds) is a dead connection.
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            server_ping_interval_ns: None,
            client_ping_interval_ns: None,
            app_ping: Some(AppPing {
                interval_ns: self.config.ping_interval_ns,
                payload: PING,
            }),
            pong_timeout_ns: self.config.pong_timeout_ns,
            stale_after_ns: Some(60_000_000_000),
        }
    }

    /// Bybit documents no per-connection request budget for public streams (its limits are
    /// connections per domain and args per connection/request): requests are only spaced.
    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: self.config.send_interval_ns,
            budget: None,
        }
    }

    /// A gap resubscribes the one topic (venues.md §5, §11.2): the venue sends a new
    /// snapshot.
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
            if let Channel::Book(d) = s.channel {
                if let Some(instrument) = self.instrument(&s.symbol) {
                    if !specs.iter().any(|b| b.instrument == instrument) {
                        specs.push(BookSpec {
                            instrument,
                            config: BookConfig::with_depth(d.levels()),
                        });
                    }
                }
            }
        }
        specs
    }

    fn instruments(&self) -> Vec<InstrumentId> {
        self.decoder.symbols().instruments()
    }

    /// The whole current set, every session (Bybit has no URL subscriptions). Ticker state
    /// starts again: the venue sends each ticker's snapshot after the subscribe.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        self.decoder.reset_tickers();
        let t = topics(self.config.market, &self.subs);
        self.request_frames("subscribe", &t, out);
    }

    /// Adds the new, valid subscriptions (invalid symbols are skipped and never interned; a
    /// second book depth of a symbol is skipped) and requests the topics not already on.
    fn subscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let before: HashSet<String> = topics(self.config.market, &self.subs).into_iter().collect();
        let mut new: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if !s.is_valid() || self.subs.contains(s) || new.contains(s) {
                continue;
            }
            if let Channel::Book(d) = s.channel {
                let existing = book_depth(&self.subs, &s.symbol).or(book_depth(&new, &s.symbol));
                if existing.is_some_and(|e| e != d) {
                    continue;
                }
            }
            new.push(s.clone());
        }
        self.add(new);
        self.refresh_bbo_flags();
        let added: Vec<String> = topics(self.config.market, &self.subs)
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        if !added.is_empty() {
            self.request_frames("subscribe", &added, out);
        }
    }

    /// Removes subscriptions; cancels the topics no remaining subscription uses (on spot a
    /// BBO and a level-1 book share one).
    fn unsubscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let before = topics(self.config.market, &self.subs);
        self.subs.retain(|s| !subs.contains(s));
        let after: HashSet<String> = topics(self.config.market, &self.subs).into_iter().collect();
        self.refresh_bbo_flags();
        let gone: Vec<String> = before.into_iter().filter(|t| !after.contains(t)).collect();
        if !gone.is_empty() {
            self.request_frames("unsubscribe", &gone, out);
        }
    }

    /// Unsubscribe and subscribe `instrument`'s book topic alone: Bybit then sends a new
    /// snapshot for it.
    fn resubscribe(&mut self, instrument: InstrumentId, out: &mut Vec<Vec<u8>>) {
        let topic = self
            .subs
            .iter()
            .find(|s| {
                matches!(s.channel, Channel::Book(_))
                    && self.instrument(&s.symbol) == Some(instrument)
            })
            .map(|s| s.topic(self.config.market));
        if let Some(t) = topic {
            let t = [t];
            self.request_frames("unsubscribe", &t, out);
            self.request_frames("subscribe", &t, out);
        }
    }

    fn parse_topic(&self, topic: &str) -> Option<Subscription> {
        Subscription::from_topic(self.config.market, topic)
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
        match frame {
            Frame::Ack { id } | Frame::SubscriptionError { id: Some(id), .. } => {
                self.pending.retain(|&p| p != id);
            }
            // Without book sync, book messages are published as they are.
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

    fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// In-band snapshots are in stream order, so this only serves a REST-style start: the
    /// same rule as [`FeedAdapter::next_diff`] from the snapshot's `u`.
    fn first_diff(&self, snapshot_id: u64, d: &DiffIds) -> SeqCheck {
        let last = DiffIds {
            first: snapshot_id,
            last: snapshot_id,
            prev: None,
        };
        self.next_diff(&last, d)
    }

    /// venues.md §5, §12: "`u == 1` means the service restarted: overwrite the book" (the
    /// delta is the whole book: [`SeqCheck::Reset`]); otherwise deltas run
    /// `u = prev_u + 1`; an older or repeated `u` is stale; a jump is a gap.
    fn next_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        if d.last == 1 {
            SeqCheck::Reset
        } else if d.last == last.last.saturating_add(1) {
            SeqCheck::Apply
        } else if d.last <= last.last {
            SeqCheck::Stale
        } else {
            SeqCheck::Gap
        }
    }

    /// Documented push intervals (venues.md §5, §12): `orderbook.1` every 10 ms on change
    /// and re-pushed after 3 s unchanged (so 3 s is its longest normal silence: floor 9 s);
    /// 50 levels 20 ms, 200 levels 100 ms (pushed on change: floor three intervals and at
    /// least 1 s); trades and tickers event-driven.
    fn cadence(&self, instrument: InstrumentId, kind: StreamKind) -> Option<Cadence> {
        let mut found: Option<Cadence> = None;
        for s in &self.subs {
            let (k, c) = match (s.channel, self.config.market) {
                (Channel::Trade, _) => (StreamKind::Trade, Cadence::EVENT_DRIVEN),
                (Channel::Bbo, Market::Linear) => (StreamKind::Bbo, Cadence::EVENT_DRIVEN),
                (Channel::Bbo, Market::Spot) | (Channel::Book(Depth::L1), _) => {
                    let k = if s.channel == Channel::Bbo {
                        StreamKind::Bbo
                    } else {
                        StreamKind::Book
                    };
                    (k, Cadence::periodic(10_000_000, 9_000_000_000))
                }
                (Channel::Book(d), _) => {
                    let ns = d.push_ms() * 1_000_000;
                    (
                        StreamKind::Book,
                        Cadence::periodic(ns, (3 * ns).max(1_000_000_000)),
                    )
                }
            };
            if k != kind || self.instrument(&s.symbol) != Some(instrument) {
                continue;
            }
            found = Some(match found {
                Some(f) if f.floor_ns <= c.floor_ns => f,
                _ => c,
            });
        }
        found
    }
}
