//! [`BinanceAdapter`]: the [`FeedAdapter`] for Binance spot and USD-M futures.

use tickwire_engine::adapter::{
    BookSpec, Cadence, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame, Heartbeat,
    Pacing, SeqCheck, StreamKind,
};
use tickwire_engine::book::BookConfig;
use tickwire_engine::event::{EventKind, Flags};
use tickwire_engine::{Event, InstrumentId, Registry};

use super::config::{BinanceConfig, Market, SubscribeVia, TimeUnit};
use super::decode::Decoder;
use super::subscription::{Channel, DepthSpeed, MAX_STREAMS_PER_CONNECTION, Route, Subscription};
use super::symbols::Symbols;

/// Why an adapter could not be built for a set of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// More streams than one connection may carry: split them with
    /// [`super::plan_connections`].
    #[error("{count} streams exceed the {max} allowed on one connection; use plan_connections")]
    TooManyStreams {
        /// Streams asked for.
        count: usize,
        /// The limit in force.
        max: usize,
    },
    /// USD-M routed endpoints serve `/public` and `/market` streams on separate connections.
    #[error(
        "USD-M routed streams of both /public and /market on one connection; use plan_connections"
    )]
    MixedRoutes,
    /// No subscriptions.
    #[error("no subscriptions")]
    Empty,
    /// A symbol outside Binance's alphabet (see [`Subscription::is_valid`]).
    #[error("a symbol is not 1 to 32 ASCII letters and digits")]
    InvalidSymbol,
}

/// Binance spot / USD-M adapter for one connection. Build one per group returned by
/// [`super::plan_connections`].
pub struct BinanceAdapter {
    config: BinanceConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    /// The streams the endpoint URL names (the construction set, with
    /// [`SubscribeVia::Url`]): the engine connects every session, reconnects and rotation
    /// legs included, with that one URL, so what changed since is requested in frames.
    url_subs: Vec<Subscription>,
    /// Streams the URL still brings that are no longer subscribed, as (instrument, channel
    /// kind): their events are dropped after decoding. Empty unless such an unsubscribe
    /// happened, so the hot path pays one branch.
    muted: Vec<(InstrumentId, Kind)>,
    decoder: Decoder,
    next_id: u64,
    pending: Vec<u64>,
}

/// What kind of events a stream yields (depth speeds are one kind: their events cannot be
/// told apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Trade,
    AggTrade,
    Bbo,
    Depth,
}

impl Kind {
    fn of_channel(c: Channel) -> Kind {
        match c {
            Channel::Trade => Kind::Trade,
            Channel::AggTrade => Kind::AggTrade,
            Channel::BookTicker => Kind::Bbo,
            Channel::Depth(_) => Kind::Depth,
        }
    }

    fn of_event(e: &Event) -> Option<Kind> {
        match e.kind() {
            EventKind::Trade if e.flags.contains(Flags::AGGREGATED) => Some(Kind::AggTrade),
            EventKind::Trade => Some(Kind::Trade),
            EventKind::Bbo => Some(Kind::Bbo),
            EventKind::BookLevel => Some(Kind::Depth),
            EventKind::Status => None,
        }
    }
}

impl BinanceAdapter {
    /// An adapter for `subs` (interned into `registry`).
    pub fn new(
        config: BinanceConfig,
        subs: &[Subscription],
        registry: &Registry,
    ) -> Result<BinanceAdapter, PlanError> {
        if subs.is_empty() {
            return Err(PlanError::Empty);
        }
        if !subs.iter().all(Subscription::is_valid) {
            return Err(PlanError::InvalidSymbol);
        }
        let max = config.max_streams.clamp(1, MAX_STREAMS_PER_CONNECTION);
        let mut unique: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        if unique.len() > max {
            return Err(PlanError::TooManyStreams {
                count: unique.len(),
                max,
            });
        }
        if let Some(route) = Self::route_of(&config, &unique[0]) {
            if unique
                .iter()
                .any(|s| Self::route_of(&config, s) != Some(route))
            {
                return Err(PlanError::MixedRoutes);
            }
        }
        let mut symbols = Symbols::new(config.market.venue());
        for s in &unique {
            symbols.add(registry, &s.symbol);
        }
        let mut decoder = Decoder::new(symbols, config.time_unit, config.latency_probe);
        decoder.set_fast_scan(config.fast_scan);
        decoder.prewarm(Decoder::PREWARM_BYTES);
        let url_subs = match config.subscribe_via {
            SubscribeVia::Url => unique.clone(),
            SubscribeVia::Frames => Vec::new(),
        };
        Ok(BinanceAdapter {
            config,
            registry: registry.clone(),
            subs: unique,
            url_subs,
            muted: Vec::new(),
            decoder,
            next_id: 1,
            pending: Vec::new(),
        })
    }

    fn route_of(config: &BinanceConfig, s: &Subscription) -> Option<Route> {
        (config.market == Market::UsdM && config.usdm_routed).then(|| s.channel.usdm_route())
    }

    /// The frame decoder (its counters).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The settings.
    pub fn config(&self) -> &BinanceConfig {
        &self.config
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subs
    }

    /// The instrument of `symbol` on this adapter's venue.
    pub fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.registry
            .lookup(self.config.market.venue(), &symbol.to_ascii_uppercase())
    }

    /// Request ids sent and not acknowledged.
    pub fn pending_ids(&self) -> &[u64] {
        &self.pending
    }

    /// The streams the endpoint URL names (empty with [`SubscribeVia::Frames`]).
    pub fn url_subscriptions(&self) -> &[Subscription] {
        &self.url_subs
    }

    /// Pushes `method` frames for `subs`, `streams_per_frame` streams each, and tracks ids.
    /// Stream names are JSON-escaped (they are validated too: this is defence in depth).
    fn request_frames(&mut self, method: &str, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        for chunk in subs.chunks(self.config.streams_per_frame.max(1)) {
            let id = self.next_id;
            self.next_id += 1;
            let mut frame = format!("{{\"method\":\"{method}\",\"params\":[");
            for (i, s) in chunk.iter().enumerate() {
                if i > 0 {
                    frame.push(',');
                }
                push_json_string(&mut frame, &s.stream());
            }
            frame.push_str(&format!("],\"id\":{id}}}"));
            self.pending.push(id);
            out.push(frame.into_bytes());
        }
    }

    /// Recomputes [`BinanceAdapter::muted`]: URL streams no longer subscribed whose events
    /// no subscribed stream also yields.
    fn update_muted(&mut self) {
        let venue = self.config.market.venue();
        let mut muted = Vec::new();
        for s in &self.url_subs {
            let kind = Kind::of_channel(s.channel);
            let still = self
                .subs
                .iter()
                .any(|t| t.symbol == s.symbol && Kind::of_channel(t.channel) == kind);
            if still {
                continue;
            }
            if let Some(i) = self.registry.lookup(venue, &s.symbol) {
                if !muted.contains(&(i, kind)) {
                    muted.push((i, kind));
                }
            }
        }
        self.muted = muted;
    }

    /// Drops the events of muted streams from `out[start..]`; a diff of a muted depth
    /// stream becomes a control frame.
    #[cold]
    #[inline(never)]
    fn mute(&self, frame: Frame, out: &mut Vec<Event>, start: usize) -> Frame {
        let muted =
            |e: &Event| Kind::of_event(e).is_some_and(|k| self.muted.contains(&(e.instrument, k)));
        if let Frame::BookDiff { instrument, .. } = frame {
            if self.muted.contains(&(instrument, Kind::Depth)) {
                out.truncate(start);
                return Frame::Control;
            }
            return frame;
        }
        let mut keep = start;
        for i in start..out.len() {
            if !muted(&out[i]) {
                out.swap(keep, i);
                keep += 1;
            }
        }
        out.truncate(keep);
        frame
    }

    /// Spot rule for each diff after the first: skip `u <= last`, gap when `U > last + 1`.
    fn spot_next(last: u64, d: &DiffIds) -> SeqCheck {
        if d.last <= last {
            SeqCheck::Stale
        } else if d.first <= last.saturating_add(1) {
            SeqCheck::Apply
        } else {
            SeqCheck::Gap
        }
    }
}

impl FeedAdapter for BinanceAdapter {
    type Subscription = Subscription;

    /// A stream name in Binance's alphabet; on a USD-M routed connection, only of this
    /// connection's route (the other route's streams would never arrive here).
    fn parse_topic(&self, topic: &str) -> Option<Subscription> {
        let sub = Subscription::from_stream(topic)?;
        let route = self.subs.first().or(self.url_subs.first());
        match route.and_then(|s| Self::route_of(&self.config, s)) {
            Some(r) if Self::route_of(&self.config, &sub) != Some(r) => None,
            _ => Some(sub),
        }
    }

    fn venue(&self) -> &str {
        self.config.market.venue()
    }

    fn endpoint(&self) -> Endpoint {
        let route = self
            .subs
            .first()
            .and_then(|s| Self::route_of(&self.config, s))
            .map_or("", Route::path);
        let mut url = format!("{}{route}/stream", self.config.ws_base());
        let mut sep = '?';
        if self.config.subscribe_via == SubscribeVia::Url {
            let streams: Vec<String> = self.url_subs.iter().map(Subscription::stream).collect();
            url.push_str("?streams=");
            url.push_str(&streams.join("/"));
            sep = '&';
        }
        if self.config.time_unit == TimeUnit::Microsecond {
            url.push(sep);
            url.push_str("timeUnit=MICROSECOND");
        }
        Endpoint {
            url,
            headers: Vec::new(),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        // The server pings (spot every 20 s, USD-M every 3 min); the engine answers.
        let (ping, stale) = match self.config.market {
            Market::Spot => (20_000_000_000, 60_000_000_000),
            Market::UsdM => (180_000_000_000, 400_000_000_000),
        };
        Heartbeat {
            server_ping_interval_ns: Some(ping),
            client_ping_interval_ns: None,
            app_ping: None,
            pong_timeout_ns: 10_000_000_000,
            stale_after_ns: Some(stale),
        }
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            min_interval_ns: self.config.send_interval_ns,
            budget: None,
        }
    }

    fn books(&self) -> Vec<BookSpec> {
        if !self.config.book_sync {
            return Vec::new();
        }
        let mut specs: Vec<BookSpec> = Vec::new();
        for s in &self.subs {
            if let Channel::Depth(_) = s.channel {
                if let Some(instrument) = self.instrument(&s.symbol) {
                    if !specs.iter().any(|b| b.instrument == instrument) {
                        specs.push(BookSpec {
                            instrument,
                            config: BookConfig::with_depth(self.config.book_depth),
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

    /// Every session starts from the URL's streams (none with [`SubscribeVia::Frames`]):
    /// requests what was subscribed since and cancels what was unsubscribed since, so each
    /// reconnect (and each rotation leg) restores the current set.
    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        let gone: Vec<Subscription> = self
            .url_subs
            .iter()
            .filter(|s| !self.subs.contains(s))
            .cloned()
            .collect();
        let added: Vec<Subscription> = self
            .subs
            .iter()
            .filter(|s| !self.url_subs.contains(s))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.request_frames("UNSUBSCRIBE", &gone, out);
        }
        if !added.is_empty() {
            self.request_frames("SUBSCRIBE", &added, out);
        }
    }

    /// Adds the new, valid subscriptions (symbols outside the alphabet are skipped and never
    /// interned) and requests them.
    fn subscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let mut new: Vec<Subscription> = Vec::with_capacity(subs.len());
        for s in subs {
            if s.is_valid() && !self.subs.contains(s) && !new.contains(s) {
                new.push(s.clone());
            }
        }
        for s in &new {
            self.decoder.symbols_mut().add(&self.registry, &s.symbol);
        }
        self.subs.extend(new.iter().cloned());
        self.update_muted();
        self.request_frames("SUBSCRIBE", &new, out);
    }

    fn unsubscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let gone: Vec<Subscription> = subs
            .iter()
            .filter(|s| self.subs.contains(s))
            .cloned()
            .collect();
        self.subs.retain(|s| !gone.contains(s));
        self.update_muted();
        self.request_frames("UNSUBSCRIBE", &gone, out);
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
        let mut frame = self.decoder.decode(payload, recv_ts, out)?;
        if !self.muted.is_empty() {
            frame = self.mute(frame, out, start);
        }
        match frame {
            Frame::Ack { id } | Frame::SubscriptionError { id: Some(id), .. } => {
                self.pending.retain(|&p| p != id);
            }
            // Without book sync a diff's levels are published as they are.
            Frame::BookDiff { .. } if !self.config.book_sync => return Ok(Frame::Market),
            _ => {}
        }
        Ok(frame)
    }

    fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    fn first_diff(&self, snapshot_id: u64, d: &DiffIds) -> SeqCheck {
        match self.config.market {
            // Drop u <= lastUpdateId; the first applied has U <= lastUpdateId+1 <= u.
            Market::Spot => Self::spot_next(snapshot_id, d),
            // Drop u < lastUpdateId; the first applied has U <= lastUpdateId <= u.
            Market::UsdM => {
                if d.last < snapshot_id {
                    SeqCheck::Stale
                } else if d.first <= snapshot_id {
                    SeqCheck::Apply
                } else {
                    SeqCheck::Gap
                }
            }
        }
    }

    fn next_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        match (self.config.market, d.prev) {
            // Each event's pu must be the previous event's u.
            (Market::UsdM, Some(pu)) => {
                if pu == last.last {
                    SeqCheck::Apply
                } else if d.last <= last.last {
                    SeqCheck::Stale
                } else {
                    SeqCheck::Gap
                }
            }
            _ => Self::spot_next(last.last, d),
        }
    }

    /// Documented push intervals (venues.md §1–2): diff depth every 100 ms, 500 ms, or by
    /// default 1000 ms (spot) / 250 ms (USD-M), each only when the book changed; `@depth@0ms`,
    /// trades and bookTicker are event-driven. A periodic stream is stale no sooner than
    /// three intervals and never under 1 s (a push can be late by a loop turn or a GC pause
    /// at the venue); its own history raises that for a quiet symbol.
    fn cadence(&self, instrument: InstrumentId, kind: StreamKind) -> Option<Cadence> {
        let venue = self.config.market.venue();
        let mut found: Option<Cadence> = None;
        for s in &self.subs {
            let k = match s.channel {
                Channel::Trade | Channel::AggTrade => StreamKind::Trade,
                Channel::BookTicker => StreamKind::Bbo,
                Channel::Depth(_) => StreamKind::Book,
            };
            if k != kind || self.registry.lookup(venue, &s.symbol) != Some(instrument) {
                continue;
            }
            let interval_ms = match s.channel {
                Channel::Depth(DepthSpeed::Ms100) => 100,
                Channel::Depth(DepthSpeed::Ms500) => 500,
                Channel::Depth(DepthSpeed::Default) => match self.config.market {
                    Market::Spot => 1000,
                    Market::UsdM => 250,
                },
                _ => 0,
            };
            let c = if interval_ms == 0 {
                Cadence::EVENT_DRIVEN
            } else {
                let ns = interval_ms * 1_000_000;
                Cadence::periodic(ns, (3 * ns).max(1_000_000_000))
            };
            // Two speeds of one book: the faster one sets the floor.
            found = Some(match found {
                Some(f) if f.floor_ns <= c.floor_ns => f,
                _ => c,
            });
        }
        found
    }

    fn join_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        // A second connection's batches may be cut differently: join at the diff that
        // chains on (pu) or whose id range covers the next id.
        if d.prev == Some(last.last) && d.last > last.last {
            return SeqCheck::Apply;
        }
        Self::spot_next(last.last, d)
    }
}

/// Appends `text` as a JSON string (quoted; `"`, backslash and control characters escaped).
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}d");
        assert_eq!(s, r#""a\"b\\c\u000a\u0001d""#);
    }
}
