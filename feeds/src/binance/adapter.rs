//! [`BinanceAdapter`]: the [`FeedAdapter`] for Binance spot and USD-M futures.

use tickwire_engine::adapter::{
    BookSpec, DecodeError, DecodeStats, DiffIds, Endpoint, FeedAdapter, Frame, Heartbeat, Pacing,
    SeqCheck,
};
use tickwire_engine::book::BookConfig;
use tickwire_engine::{Event, InstrumentId, Registry};

use super::config::{BinanceConfig, Market, SubscribeVia, TimeUnit};
use super::decode::{Decoder, Symbols};
use super::subscription::{Channel, MAX_STREAMS_PER_CONNECTION, Route, Subscription};

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
}

/// Binance spot / USD-M adapter for one connection. Build one per group returned by
/// [`super::plan_connections`].
pub struct BinanceAdapter {
    config: BinanceConfig,
    registry: Registry,
    subs: Vec<Subscription>,
    decoder: Decoder,
    next_id: u64,
    pending: Vec<u64>,
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
        Ok(BinanceAdapter {
            config,
            registry: registry.clone(),
            subs: unique,
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

    /// Pushes `method` frames for `subs`, `streams_per_frame` streams each, and tracks ids.
    fn request_frames(&mut self, method: &str, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        for chunk in subs.chunks(self.config.streams_per_frame.max(1)) {
            let id = self.next_id;
            self.next_id += 1;
            let params: Vec<String> = chunk
                .iter()
                .map(|s| format!("\"{}\"", s.stream()))
                .collect();
            let frame = format!(
                "{{\"method\":\"{method}\",\"params\":[{}],\"id\":{id}}}",
                params.join(",")
            );
            self.pending.push(id);
            out.push(frame.into_bytes());
        }
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

    fn parse_topic(&self, topic: &str) -> Option<Subscription> {
        Subscription::from_stream(topic)
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
            let streams: Vec<String> = self.subs.iter().map(Subscription::stream).collect();
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

    fn connect_frames(&mut self, out: &mut Vec<Vec<u8>>) {
        self.pending.clear();
        if self.config.subscribe_via == SubscribeVia::Frames {
            let subs = self.subs.clone();
            self.request_frames("SUBSCRIBE", &subs, out);
        }
    }

    fn subscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let new: Vec<Subscription> = subs
            .iter()
            .filter(|s| !self.subs.contains(s))
            .cloned()
            .collect();
        for s in &new {
            self.decoder.symbols_mut().add(&self.registry, &s.symbol);
        }
        self.subs.extend(new.iter().cloned());
        self.request_frames("SUBSCRIBE", &new, out);
    }

    fn unsubscribe(&mut self, subs: &[Subscription], out: &mut Vec<Vec<u8>>) {
        let gone: Vec<Subscription> = subs
            .iter()
            .filter(|s| self.subs.contains(s))
            .cloned()
            .collect();
        self.subs.retain(|s| !gone.contains(s));
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
        let frame = self.decoder.decode(payload, recv_ts, out)?;
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

    fn join_diff(&self, last: &DiffIds, d: &DiffIds) -> SeqCheck {
        // A second connection's batches may be cut differently: join at the diff that
        // chains on (pu) or whose id range covers the next id.
        if d.prev == Some(last.last) && d.last > last.last {
            return SeqCheck::Apply;
        }
        Self::spot_next(last.last, d)
    }
}
