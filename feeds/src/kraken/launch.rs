//! The launch hook ([`crate::launch`]) for Kraken v2: [`KrakenFeed`]'s plan, each
//! connection a [`KrakenAdapter`] with in-band snapshots (an empty [`QueuedSnapshots`]: a
//! checksum mismatch resubscribes the one symbol), for `tickwire run|record|bench --venue
//! kraken`. With [`LaunchSpec::lines`], [`Launch::start`] runs each connection over every
//! line: Kraken's book updates carry no ids, so the lines fail over between their books
//! (each line's proved by the checksum after every update; see
//! [`tickwire_engine::adapter::ArbitratedFeed`]); trades are taken first copy by
//! `trade_id`.

use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, FeedHandler, LineMonitor, QueuedSnapshots, SnapshotSource,
    connection_config,
};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::{ConnectionId, FeedAdapter, InstrumentId, Registry};

use super::adapter::{Channel, DEPTHS, KrakenAdapter, KrakenConfig, Subscription};
use super::feed::{FeedError, KrakenFeed};
use crate::launch::{
    BuiltConnection, Launch, LaunchError, LaunchSpec, LineMonitors, PlannedConnection, SnapshotWrap,
};

/// The public endpoint's path, appended to a `--url` given without one.
pub const PUBLIC_PATH: &str = "/v2";

/// `ws://127.0.0.1:9100` → `ws://127.0.0.1:9100/v2`; a URL with a path is kept.
fn with_public_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if rest.trim_end_matches('/').contains('/') {
        url.to_owned()
    } else {
        format!("{}{PUBLIC_PATH}", url.trim_end_matches('/'))
    }
}

/// A channel by the common names: trade, bbo (Kraken's `ticker`), book.
pub fn parse_channel(name: &str) -> Option<Channel> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trade" | "trades" => Channel::Trade,
        "bbo" | "ticker" => Channel::Ticker,
        "book" | "depth" => Channel::Book,
        _ => return None,
    })
}

/// A planned Kraken launch.
pub struct KrakenLaunch {
    config: KrakenConfig,
    /// Each further line's settings (its `ws_url`), with [`LaunchSpec::lines`].
    lines: Vec<KrakenConfig>,
    monitors: LineMonitors,
    groups: Vec<Vec<Subscription>>,
    spec: LaunchSpec,
    connections: Vec<PlannedConnection>,
}

impl KrakenLaunch {
    /// Plans `spec`.
    pub fn plan(spec: &LaunchSpec, registry: &Registry) -> Result<KrakenLaunch, LaunchError> {
        let usage = LaunchError::Usage;
        if spec.connections.is_some() {
            return Err(usage(crate::launch::NO_CONNECTIONS.into()));
        }
        let depth = match spec.depth.as_deref() {
            None => 10,
            Some(d) => d
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|d| DEPTHS.contains(d))
                .ok_or_else(|| {
                    usage(format!(
                        "unknown book depth '{d}' for Kraken: use 10, 25, 100, 500 or 1000"
                    ))
                })?,
        };
        let mut channels: Vec<Channel> = Vec::new();
        for name in spec.channel_names() {
            match parse_channel(name) {
                Some(c) if !channels.contains(&c) => channels.push(c),
                Some(_) => {}
                None => {
                    return Err(usage(format!(
                        "unknown channel '{name}' for kraken: use trade, bbo or book"
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
        let mut feed = KrakenFeed::new()
            .symbols(&symbols)
            .channels(&channels)
            .depth(depth)
            .options(spec.options)
            .handler_config(spec.handler);
        if let Some(url) = &spec.url {
            feed = feed.url(&with_public_path(url));
        }
        let groups = feed.plan().map_err(|e| match e {
            FeedError::Plan(_) => usage(format!(
                "{e}: Kraken v2 symbols look like BTC/USD (upper-case letters, digits, '/')"
            )),
            FeedError::NoSubscriptions => usage(e.to_string()),
            _ => LaunchError::Failed(e.to_string()),
        })?;
        let config = feed.config().clone();
        let mut connections = Vec::with_capacity(groups.len());
        for g in &groups {
            let adapter = KrakenAdapter::new(config.clone(), g, registry)
                .map_err(|e| usage(format!("subscriptions: {e}")))?;
            connections.push(PlannedConnection {
                url: FeedAdapter::endpoint(&adapter).url,
                streams: g.iter().map(Subscription::topic).collect(),
                start_after: std::time::Duration::ZERO,
            });
        }
        let mut lines = Vec::with_capacity(spec.lines.len());
        for u in &spec.lines {
            let ws_url = with_public_path(u);
            tickwire_engine::config::Endpoint::parse(&ws_url)
                .map_err(|e| usage(format!("bad --url '{u}': {e}")))?;
            lines.push(KrakenConfig {
                ws_url,
                ..config.clone()
            });
        }
        Ok(KrakenLaunch {
            config,
            lines,
            monitors: LineMonitors::default(),
            groups,
            spec: spec.clone(),
            connections,
        })
    }
}

impl Launch for KrakenLaunch {
    fn venue(&self) -> &'static str {
        super::VENUE
    }

    fn market_name(&self) -> String {
        "kraken spot".into()
    }

    fn ws_base(&self) -> String {
        self.config.ws_url.clone()
    }

    fn book_depth(&self) -> usize {
        usize::from(self.config.book_depth)
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
        "the venue lists its pairs on the `instrument` channel and at /0/public/AssetPairs (wsname)"
    }

    fn line_monitors(&self) -> Vec<LineMonitor> {
        self.monitors.get()
    }

    /// [`start_connections`](crate::launch::start_connections), or with
    /// [`LaunchSpec::lines`] each connection over every line.
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        if self.lines.is_empty() {
            return crate::launch::start_connections(self, engine, registry, consumers);
        }
        let mut configs = vec![self.config.clone()];
        configs.extend(self.lines.iter().cloned());
        let configs = &configs;
        crate::launch::start_arbitrated(
            &self.connections,
            engine,
            self.spec.options,
            &self.spec.roots,
            consumers,
            &self.monitors,
            |i| {
                let group = self.groups[i].clone();
                KrakenAdapter::new(self.config.clone(), &group, registry)
                    .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
                let (configs, registry) = (configs.clone(), registry.clone());
                // Books come in-band on every line.
                let factory = move |line: usize| {
                    let config = configs.get(line)?.clone();
                    let adapter = KrakenAdapter::new(config, &group, &registry).ok()?;
                    let source: Box<dyn SnapshotSource> = Box::new(QueuedSnapshots::new());
                    Some((adapter, source))
                };
                ArbitratedFeed::new(
                    Box::new(factory),
                    self.lines.len() + 1,
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
        let adapter = KrakenAdapter::new(self.config.clone(), group, registry)
            .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
        let mut names: Vec<(InstrumentId, String)> = Vec::new();
        for s in group {
            if s.channel == Channel::Book
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
