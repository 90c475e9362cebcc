//! The launch hook for Bybit v5 public spot and linear: [`BybitFeed`]'s plan, each
//! connection a [`BybitAdapter`] with in-band snapshots (an empty [`QueuedSnapshots`]: a gap
//! resubscribes the one topic). With [`LaunchSpec::lines`], [`Launch::start`] runs each
//! connection over every line ([`BybitFeed::line`], A/B arbitration).

use tickwire_engine::adapter::{FeedHandler, QueuedSnapshots, SnapshotSource, connection_config};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::{ConnectionId, FeedAdapter, Registry};

use super::{BuiltConnection, Launch, LaunchError, LaunchSpec, PlannedConnection, SnapshotWrap};
use crate::bybit::{
    BybitAdapter, BybitConfig, BybitFeed, Channel, Depth, FeedError, Market, Subscription,
};

/// A channel by the common names: trade, bbo, book (at `depth`).
pub fn parse_channel(name: &str, depth: Depth) -> Option<Channel> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trade" | "trades" | "publictrade" => Channel::Trade,
        "bbo" | "ticker" | "tickers" => Channel::Bbo,
        "book" | "depth" | "orderbook" => Channel::Book(depth),
        _ => return None,
    })
}

/// A planned Bybit launch.
pub struct BybitLaunch {
    feed: BybitFeed,
    config: BybitConfig,
    groups: Vec<Vec<Subscription>>,
    depth: Depth,
    spec: LaunchSpec,
    connections: Vec<PlannedConnection>,
}

impl BybitLaunch {
    /// Plans `spec` on `market`.
    pub fn plan(
        market: Market,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<BybitLaunch, LaunchError> {
        let usage = LaunchError::Usage;
        if spec.connections.is_some() {
            return Err(usage(crate::launch::NO_CONNECTIONS.into()));
        }
        let depth = match spec.depth.as_deref() {
            None => Depth::L50,
            Some(d) => Depth::from_levels(d.trim()).ok_or_else(|| {
                usage(format!(
                    "unknown book depth '{d}' for Bybit: use 1, 50 or 200"
                ))
            })?,
        };
        let mut channels: Vec<Channel> = Vec::new();
        for name in spec.channel_names() {
            match parse_channel(name, depth) {
                Some(c) if !channels.contains(&c) => channels.push(c),
                Some(_) => {}
                None => {
                    return Err(usage(format!(
                        "unknown channel '{name}' for {}: use trade, bbo or book",
                        market.venue()
                    )));
                }
            }
        }
        let symbols = spec.symbols_upper();
        if symbols.is_empty() || channels.is_empty() {
            return Err(usage(
                "give at least one symbol (--symbols) and one channel (--channels)".into(),
            ));
        }
        let mut feed = BybitFeed::new(market)
            .symbols(&symbols)
            .channels(&channels)
            .options(spec.options)
            .handler_config(spec.handler);
        if let Some(url) = &spec.url {
            feed = feed.url(url);
        }
        for line in &spec.lines {
            check_line(line)?;
            feed = feed.line(line);
        }
        for der in &spec.roots {
            feed = feed.trust_root_der(der);
        }
        let groups = feed.plan().map_err(|e| match e {
            FeedError::InvalidSymbol { index } => {
                let subs = feed.subscriptions();
                let sym = subs.get(index).map_or("", |s| s.symbol.as_str());
                usage(format!(
                    "'{sym}' is not a Bybit symbol: upper-case letters, digits and '-', like BTCUSDT"
                ))
            }
            FeedError::NoSubscriptions => usage(e.to_string()),
            _ => LaunchError::Failed(e.to_string()),
        })?;
        let config = feed.config().clone();
        let mut connections = Vec::with_capacity(groups.len());
        for g in &groups {
            let adapter = BybitAdapter::new(config.clone(), g, registry)
                .map_err(|e| usage(format!("subscriptions: {e}")))?;
            connections.push(PlannedConnection {
                url: FeedAdapter::endpoint(&adapter).url,
                streams: g.iter().map(|s| s.topic(market)).collect(),
                start_after: std::time::Duration::ZERO,
            });
        }
        Ok(BybitLaunch {
            feed,
            config,
            groups,
            depth,
            spec: spec.clone(),
            connections,
        })
    }
}

/// A further line's URL must parse (scheme and host; the market's path is appended).
fn check_line(base: &str) -> Result<(), LaunchError> {
    let url = format!("{}/v5/public/spot", base.trim_end_matches('/'));
    tickwire_engine::config::Endpoint::parse(&url)
        .map(|_| ())
        .map_err(|e| LaunchError::Usage(format!("bad --url '{base}': {e}")))
}

impl Launch for BybitLaunch {
    fn venue(&self) -> &'static str {
        self.config.market.venue()
    }

    fn market_name(&self) -> String {
        match self.config.market {
            Market::Spot => "bybit spot".into(),
            Market::Linear => "bybit linear".into(),
        }
    }

    fn ws_base(&self) -> String {
        self.config.url()
    }

    fn book_depth(&self) -> usize {
        self.depth.levels()
    }

    fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.groups.iter().flatten() {
            if !out.contains(&s.symbol) {
                out.push(s.symbol.clone());
            }
        }
        out
    }

    fn connections(&self) -> &[PlannedConnection] {
        &self.connections
    }

    fn symbols_hint(&self) -> &'static str {
        "the venue lists its symbols at /v5/market/instruments-info"
    }

    fn line_monitors(&self) -> Vec<tickwire_engine::adapter::LineMonitor> {
        self.feed.line_monitors()
    }

    /// [`start_connections`](super::start_connections), or with [`LaunchSpec::lines`] each
    /// connection over every line ([`BybitFeed::start`]).
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        if self.spec.lines.is_empty() {
            return super::start_connections(self, engine, registry, consumers);
        }
        self.feed
            .start(engine, registry, consumers)
            .map_err(|e| match e {
                FeedError::Url(c) => LaunchError::Usage(format!("bad --url: {c}")),
                e => LaunchError::Failed(e.to_string()),
            })
    }

    fn build(
        &self,
        index: usize,
        registry: &Registry,
        wrap: SnapshotWrap<'_>,
    ) -> Result<BuiltConnection, LaunchError> {
        let group = self
            .groups
            .get(index)
            .ok_or_else(|| LaunchError::Failed(format!("no connection {index}")))?;
        let adapter = BybitAdapter::new(self.config.clone(), group, registry)
            .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
        let mut names: Vec<(tickwire_engine::InstrumentId, String)> = Vec::new();
        for s in group {
            if matches!(s.channel, Channel::Book(_))
                && let Some(i) = adapter.instrument(&s.symbol)
                && !names.iter().any(|(j, _)| *j == i)
            {
                names.push((i, s.symbol.clone()));
            }
        }
        let snapshots: Box<dyn SnapshotSource> = wrap(Box::new(QueuedSnapshots::new()), names);
        let handler = FeedHandler::new(adapter, snapshots, self.spec.handler);
        let mut config = connection_config(handler.adapter(), self.spec.options)
            .map_err(|e| LaunchError::Usage(format!("bad --url: {e}")))?;
        for der in &self.spec.roots {
            config = config.trust_root_der(der);
        }
        Ok(BuiltConnection {
            config,
            handler: Box::new(handler),
        })
    }
}
