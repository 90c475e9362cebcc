//! The launch hook for Coinbase Advanced Trade: [`CoinbaseFeed`]'s plan (at most 16 `level2`
//! products a connection), each connection a [`CoinbaseAdapter`] with in-band snapshots (an
//! empty [`QueuedSnapshots`]: a break of the connection's `sequence_num` resubscribes every
//! book of it). The message limit is raised to [`MAX_MESSAGE`] unless the command set its
//! own: a `level2` snapshot is the whole book in one frame. With [`LaunchSpec::lines`],
//! [`Launch::start`] runs each connection over every line ([`crate::coinbase::lines`]:
//! failover between the lines' books, trades first copy).

use std::time::Duration;

use tickwire_engine::adapter::{
    ArbitrationConfig, FeedHandler, LineMonitor, QueuedSnapshots, SnapshotSource, connection_config,
};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::config::ConnectionOptions;
use tickwire_engine::{ConnectionId, FeedAdapter, Registry};

use super::{
    BuiltConnection, Launch, LaunchError, LaunchSpec, LineMonitors, PlannedConnection, SnapshotWrap,
};
use crate::coinbase::{
    Channel, CoinbaseAdapter, CoinbaseConfig, CoinbaseFeed, FeedError, MAX_MESSAGE, Subscription,
    VENUE,
};

/// A channel by the common names (trade, bbo, book) or Coinbase's own (`market_trades`,
/// `ticker`, `level2`).
pub fn parse_channel(name: &str) -> Option<Channel> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trade" | "trades" | "market_trades" => Channel::Trades,
        "bbo" | "ticker" => Channel::Ticker,
        "book" | "depth" | "level2" | "l2" | "l2_data" => Channel::Level2,
        _ => return None,
    })
}

/// A planned Coinbase launch.
pub struct CoinbaseLaunch {
    config: CoinbaseConfig,
    /// Each further line's settings (its `ws_url`), with [`LaunchSpec::lines`].
    lines: Vec<CoinbaseConfig>,
    monitors: LineMonitors,
    groups: Vec<Vec<Subscription>>,
    spec: LaunchSpec,
    options: ConnectionOptions,
    connections: Vec<PlannedConnection>,
}

impl CoinbaseLaunch {
    /// Plans `spec`.
    pub fn plan(spec: &LaunchSpec, registry: &Registry) -> Result<CoinbaseLaunch, LaunchError> {
        let usage = LaunchError::Usage;
        if spec.connections.is_some() {
            return Err(usage(crate::launch::NO_CONNECTIONS.into()));
        }
        let mut config = CoinbaseConfig::default();
        if let Some(d) = spec.depth.as_deref() {
            config.depth = d
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    usage(format!(
                        "unknown book depth '{d}' for Coinbase: the levels a side to keep, e.g. 1000"
                    ))
                })?;
        }
        let mut channels: Vec<Channel> = Vec::new();
        for name in spec.channel_names() {
            match parse_channel(name) {
                Some(c) if !channels.contains(&c) => channels.push(c),
                Some(_) => {}
                None => {
                    return Err(usage(format!(
                        "unknown channel '{name}' for coinbase: use trade, bbo or book"
                    )));
                }
            }
        }
        let products = spec.symbols_upper();
        if products.is_empty() || channels.is_empty() {
            return Err(usage(
                "give at least one symbol (--symbols) and one channel (--channels)".into(),
            ));
        }
        let mut feed = CoinbaseFeed::with_config(config)
            .products(&products)
            .channels(&channels)
            .handler_config(spec.handler);
        if let Some(url) = &spec.url {
            feed = feed.url(url);
        }
        let groups = feed.plan().map_err(|e| match e {
            FeedError::InvalidProduct { index } => {
                let subs = feed.subscriptions();
                let p = subs.get(index).map_or("", |s| s.product.as_str());
                usage(format!(
                    "'{p}' is not a Coinbase product: upper-case letters, digits and '-', like SOL-USD"
                ))
            }
            FeedError::NoSubscriptions => usage(e.to_string()),
            _ => LaunchError::Failed(e.to_string()),
        })?;
        let mut config = feed.config().clone();
        // The per-IP message rate is shared by every connection (lines included: they may
        // leave from the same address), and by every shard of the universe.
        config.send_interval_ns = config.send_interval_ns.saturating_mul(
            (groups.len() * (1 + spec.lines.len()) * spec.shard.count.max(1)).max(1) as u64,
        );
        // Whole-book snapshots: the default limit is raised, a limit the command set stays.
        let mut options = spec.options;
        let default = ConnectionOptions::default();
        if options.max_message == default.max_message {
            options.max_message = MAX_MESSAGE;
        }
        if options.max_frame == default.max_frame {
            options.max_frame = MAX_MESSAGE;
        }
        let mut connections = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let adapter = CoinbaseAdapter::new(config.clone(), g, registry)
                .map_err(|e| usage(format!("subscriptions: {e}")))?;
            connections.push(PlannedConnection {
                url: FeedAdapter::endpoint(&adapter).url,
                streams: g.iter().map(Subscription::topic).collect(),
                // 8 connections a second per IP (venues.md §3a), the shards' interleaved.
                start_after: Duration::from_millis(150 * spec.shard.slot(i) as u64),
            });
        }
        let mut lines = Vec::with_capacity(spec.lines.len());
        for u in &spec.lines {
            tickwire_engine::config::Endpoint::parse(u)
                .map_err(|e| usage(format!("bad --url '{u}': {e}")))?;
            lines.push(CoinbaseConfig {
                ws_url: Some(u.clone()),
                ..config.clone()
            });
        }
        Ok(CoinbaseLaunch {
            config,
            lines,
            monitors: LineMonitors::default(),
            groups,
            spec: spec.clone(),
            options,
            connections,
        })
    }
}

impl Launch for CoinbaseLaunch {
    fn venue(&self) -> &'static str {
        VENUE
    }

    fn market_name(&self) -> String {
        "coinbase advanced trade".into()
    }

    fn ws_base(&self) -> String {
        self.config.url()
    }

    fn book_depth(&self) -> usize {
        self.config.depth
    }

    fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.groups.iter().flatten() {
            if !out.contains(&s.product) {
                out.push(s.product.clone());
            }
        }
        out
    }

    fn connections(&self) -> &[PlannedConnection] {
        &self.connections
    }

    fn symbols_hint(&self) -> &'static str {
        "the venue lists its products at /api/v3/brokerage/market/products"
    }

    fn line_monitors(&self) -> Vec<LineMonitor> {
        self.monitors.get()
    }

    /// [`start_connections`](super::start_connections), or with [`LaunchSpec::lines`] each
    /// connection over every line, paced the same way.
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        if self.lines.is_empty() {
            return super::start_connections(self, engine, registry, consumers);
        }
        let mut configs = vec![self.config.clone()];
        configs.extend(self.lines.iter().cloned());
        super::start_arbitrated(
            &self.connections,
            engine,
            self.options,
            &self.spec.roots,
            consumers,
            &self.monitors,
            |i| {
                crate::coinbase::lines::arbitrated_feed(
                    &configs,
                    &self.groups[i],
                    registry,
                    self.spec.handler,
                    ArbitrationConfig::default(),
                )
                .map_err(|e| LaunchError::Failed(format!("lines: {e}")))
            },
        )
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
        let adapter = CoinbaseAdapter::new(self.config.clone(), group, registry)
            .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
        let mut names: Vec<(tickwire_engine::InstrumentId, String)> = Vec::new();
        for s in group.iter().filter(|s| s.channel == Channel::Level2) {
            if let Some(i) = adapter.instrument(&s.product) {
                if !names.iter().any(|(j, _)| *j == i) {
                    names.push((i, s.product.clone()));
                }
            }
        }
        let snapshots: Box<dyn SnapshotSource> = wrap(Box::new(QueuedSnapshots::new()), names);
        let handler = FeedHandler::new(adapter, snapshots, self.spec.handler);
        let mut config = connection_config(handler.adapter(), self.options)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coinbase_plans_by_name_shards_books_and_admits_whole_book_snapshots() {
        let products: Vec<String> = (0..20).map(|i| format!("p{i}-usd")).collect();
        let mut spec = LaunchSpec::new(&products, &["book", "trade"]);
        spec.url = Some("ws://127.0.0.1:9/".into());
        let v = crate::venues::find("coinbase").unwrap();
        let plan = v.launch(&spec, &Registry::new()).unwrap();
        assert_eq!(plan.venue(), "coinbase");
        assert_eq!(plan.connections().len(), 2, "16 + 4 level2 products");
        assert_eq!(plan.connections()[0].url, "ws://127.0.0.1:9/");
        assert!(
            plan.connections()[0]
                .streams
                .contains(&"level2:P0-USD".to_owned())
        );
        assert_eq!(plan.symbols().len(), 20);
        assert_eq!(plan.book_depth(), 5000);
        let built = plan.build(1, &Registry::new(), &mut |s, _| s).unwrap();
        let _ = built;
        // A limit the command set stays.
        spec.options.max_message = 1 << 20;
        let l = CoinbaseLaunch::plan(&spec, &Registry::new()).unwrap();
        assert_eq!(l.options.max_message, 1 << 20);
        assert_eq!(l.options.max_frame, MAX_MESSAGE);
        let mut bad = LaunchSpec::new(&["BTC USD"], &["book"]);
        bad.depth = Some("10".into());
        assert!(
            matches!(CoinbaseLaunch::plan(&bad, &Registry::new()), Err(LaunchError::Usage(m)) if m.contains("not a Coinbase product"))
        );
        bad.depth = Some("deep".into());
        assert!(
            matches!(CoinbaseLaunch::plan(&bad, &Registry::new()), Err(LaunchError::Usage(m)) if m.contains("book depth"))
        );
    }

    /// Shards of one universe leave from one IP: together they keep to venues.md §3a's 8
    /// connections and 8 unauthenticated messages a second. Planned as if each were alone,
    /// two shards would connect at the same instants and send 13.3 messages a second.
    #[test]
    fn shards_of_one_universe_share_the_per_ip_connect_and_message_rates() {
        let products: Vec<String> = (0..40).map(|i| format!("p{i}-usd")).collect();
        let mut spec = LaunchSpec::new(&products, &["book", "trade"]);
        spec.url = Some("ws://127.0.0.1:9/".into());
        let plan = |s: &LaunchSpec| CoinbaseLaunch::plan(s, &Registry::new()).unwrap();
        // Connects a second at the tightest spacing, and messages a second over every
        // connection of every shard (each connection sends at most one per interval).
        let rates = |plans: &[CoinbaseLaunch]| -> (Duration, f64) {
            let mut starts: Vec<Duration> = plans
                .iter()
                .flat_map(|p| p.connections.iter().map(|c| c.start_after))
                .collect();
            starts.sort();
            let closest = starts
                .windows(2)
                .map(|w| w[1] - w[0])
                .min()
                .unwrap_or(Duration::MAX);
            let messages = plans
                .iter()
                .map(|p| p.connections.len() as f64 * 1e9 / p.config.send_interval_ns as f64)
                .sum();
            (closest, messages)
        };
        let shards = crate::spread::shards(&spec, 2, |_| 1).unwrap();
        let plans: Vec<CoinbaseLaunch> = shards.iter().map(plan).collect();
        assert_eq!(plans[0].connections.len() + plans[1].connections.len(), 4);
        let (closest, messages) = rates(&plans);
        assert!(closest >= Duration::from_millis(125), "{closest:?}");
        assert!(messages <= 8.0, "{messages}");
        let alone: Vec<CoinbaseLaunch> = shards
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.shard = crate::spread::Shard::WHOLE;
                plan(&s)
            })
            .collect();
        let (closest, messages) = rates(&alone);
        assert!(closest < Duration::from_millis(125) && messages > 8.0);
    }
}
