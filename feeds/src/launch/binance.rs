//! The launch hook for Binance spot and USD-M: [`BinanceFeed`] planned from a
//! [`LaunchSpec`], started with rotation (as `tickwire run` always did), built per connection
//! without it for `tickwire record`.

use tickwire_engine::adapter::{FeedHandler, SnapshotSource, connection_config};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::{ConnectionId, FeedAdapter, Registry};

use super::{BuiltConnection, Launch, LaunchError, LaunchSpec, PlannedConnection, SnapshotWrap};
use crate::binance::{
    BinanceAdapter, BinanceConfig, BinanceFeed, Channel, DepthSpeed, FeedError, FeedPlan, Market,
    RestSnapshots, SubscribeVia, Subscription,
};

/// A channel by `tickwire run`'s name (trade, aggtrade, bbo, book) or its stream suffix
/// (bookTicker, depth@100ms, ...).
pub fn parse_channel(name: &str, speed: DepthSpeed) -> Option<Channel> {
    let name = name.trim();
    Channel::from_suffix(name).or(match name.to_ascii_lowercase().as_str() {
        "trade" | "trades" => Some(Channel::Trade),
        "aggtrade" | "aggtrades" | "agg" => Some(Channel::AggTrade),
        "bbo" | "bookticker" | "ticker" => Some(Channel::BookTicker),
        "book" | "depth" => Some(Channel::Depth(speed)),
        _ => None,
    })
}

/// The book's update speed: 100ms, default (1000 ms spot, 250 ms USD-M); USD-M also 500ms
/// and 0ms.
pub fn parse_speed(s: &str, market: Market) -> Result<DepthSpeed, String> {
    let speed = match s.trim().to_ascii_lowercase().as_str() {
        "100ms" | "100" => DepthSpeed::Ms100,
        "default" | "1000ms" | "250ms" => DepthSpeed::Default,
        "500ms" | "500" => DepthSpeed::Ms500,
        "0ms" | "0" => DepthSpeed::Ms0,
        _ => {
            return Err(format!(
                "unknown --depth-speed '{s}': use 100ms or default (USD-M also 500ms, 0ms)"
            ));
        }
    };
    if market == Market::Spot && matches!(speed, DepthSpeed::Ms500 | DepthSpeed::Ms0) {
        return Err(format!(
            "--depth-speed {s} is USD-M only; spot offers 100ms and default (1000 ms)"
        ));
    }
    Ok(speed)
}

/// A planned Binance launch.
pub struct BinanceLaunch {
    feed: BinanceFeed,
    config: BinanceConfig,
    plan: FeedPlan,
    roots: Vec<Vec<u8>>,
    spec: LaunchSpec,
    connections: Vec<PlannedConnection>,
}

impl BinanceLaunch {
    /// Plans `spec` on `market`.
    pub fn plan(
        market: Market,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<BinanceLaunch, LaunchError> {
        let usage = LaunchError::Usage;
        let speed = match &spec.depth {
            Some(s) => parse_speed(s, market).map_err(usage)?,
            None => DepthSpeed::Ms100,
        };
        let mut channels: Vec<Channel> = Vec::new();
        for name in spec.channel_names() {
            match parse_channel(name, speed) {
                Some(c) if !channels.contains(&c) => channels.push(c),
                Some(_) => {}
                None => {
                    return Err(usage(format!(
                        "unknown channel '{name}': use trade, aggtrade, bbo or book"
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
        let via = match spec.subscribe.as_deref() {
            None => None,
            Some("frames") => Some(SubscribeVia::Frames),
            Some("url") => Some(SubscribeVia::Url),
            Some(other) => {
                return Err(usage(format!(
                    "unknown --subscribe '{other}': use frames or url"
                )));
            }
        };
        let mut feed = BinanceFeed::new(market)
            .symbols(&symbols)
            .channels(&channels)
            .microseconds(spec.decode.micros)
            .latency_probe(spec.decode.probe)
            .options(spec.options)
            .handler_config(spec.handler);
        if let Some(via) = via {
            feed = feed.subscribe_via(via);
        }
        if via == Some(SubscribeVia::Frames) {
            // Small requests, aligned on symbols, so a refusal names the symbol at fault; at
            // most about 8 frames a connection (the venue paces them at 4-10 a second).
            let n = channels.len();
            let per = (symbols.len() * n).div_ceil(8).div_ceil(n) * n;
            feed.config_mut().streams_per_frame = per.clamp(n, 200);
        }
        if let Some(n) = spec.connections {
            if n == 0 {
                return Err(usage("--connections must be at least 1".into()));
            }
            // A symbol's streams move as a unit: round the share up to whole symbols.
            let per_symbol = channels.len();
            let per = (symbols.len() * per_symbol)
                .div_ceil(n)
                .div_ceil(per_symbol)
                * per_symbol;
            let c = feed.config_mut();
            c.max_streams = c.max_streams.min(per.max(per_symbol));
        }
        if let Some(url) = &spec.url {
            feed = feed.url(url);
        }
        for line in &spec.lines {
            feed = feed.line(line);
        }
        if let Some(rest) = spec
            .rest_url
            .clone()
            .or_else(|| spec.url.as_deref().and_then(super::loopback_rest))
        {
            feed = feed.rest_url(&rest);
        }
        for der in &spec.roots {
            feed = feed.trust_root_der(der);
        }
        // Shards in processes of their own share the IP's REST weight out.
        feed.config_mut().rest_processes = spec.shard.processes();
        let plan = feed.plan().map_err(|e| error(&feed, e))?;
        let config = feed.resolved_config().map_err(|e| error(&feed, e))?;
        let mut connections = Vec::with_capacity(plan.groups().len());
        for g in plan.groups() {
            let adapter = BinanceAdapter::new(config.clone(), g, registry)
                .map_err(|e| error(&feed, FeedError::Plan(e)))?;
            connections.push(PlannedConnection {
                url: FeedAdapter::endpoint(&adapter).url,
                streams: g.iter().map(Subscription::stream).collect(),
                start_after: std::time::Duration::ZERO,
            });
        }
        Ok(BinanceLaunch {
            feed,
            config,
            plan,
            roots: spec.roots.clone(),
            spec: spec.clone(),
            connections,
        })
    }
}

/// Explains a feed that could not plan or start; usage errors are the command line's fault.
fn error(feed: &BinanceFeed, e: FeedError) -> LaunchError {
    match e {
        FeedError::InvalidSymbol { index } => {
            let subs = feed.subscriptions();
            let sym = subs.get(index).map_or("", |s| s.symbol.as_str());
            LaunchError::Usage(format!(
                "'{sym}' is not a Binance symbol: letters and digits only, like BTCUSDT"
            ))
        }
        FeedError::Url(_) | FeedError::UrlQuery => LaunchError::Usage(format!(
            "bad --url: {e} (e.g. wss://stream.binance.com:9443 or ws://127.0.0.1:9100)"
        )),
        FeedError::RestUrl => LaunchError::Usage(format!(
            "bad --rest-url: {e} (e.g. https://api.binance.com or http://127.0.0.1:9100)"
        )),
        FeedError::Certificate => LaunchError::Usage(format!("bad --cert: {e}")),
        FeedError::NoSubscriptions => LaunchError::Usage(e.to_string()),
        _ => LaunchError::Failed(e.to_string()),
    }
}

impl Launch for BinanceLaunch {
    fn venue(&self) -> &'static str {
        self.config.market.venue()
    }

    fn market_name(&self) -> String {
        match self.config.market {
            Market::Spot => "binance spot".into(),
            Market::UsdM => "binance usd-m".into(),
        }
    }

    fn ws_base(&self) -> String {
        self.config.ws_base().to_owned()
    }

    fn rest_base(&self) -> Option<String> {
        Some(self.config.rest_base().to_owned())
    }

    fn book_depth(&self) -> usize {
        self.config.book_depth
    }

    fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.plan.subscriptions() {
            if !out.contains(&s.symbol) {
                out.push(s.symbol.clone());
            }
        }
        out
    }

    fn connections(&self) -> &[PlannedConnection] {
        &self.connections
    }

    fn request(&self, connection: usize, request_id: u64) -> Option<Vec<String>> {
        self.plan
            .request(connection, request_id)
            .map(|subs| subs.iter().map(Subscription::stream).collect())
    }

    fn symbols_hint(&self) -> &'static str {
        "the venue lists its symbols at /api/v3/exchangeInfo"
    }

    fn build(
        &self,
        index: usize,
        registry: &Registry,
        wrap: SnapshotWrap<'_>,
    ) -> Result<BuiltConnection, LaunchError> {
        let group = self
            .plan
            .groups()
            .get(index)
            .ok_or_else(|| LaunchError::Failed(format!("no connection {index}")))?;
        let adapter = BinanceAdapter::new(self.config.clone(), group, registry)
            .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
        let mut book_symbols: Vec<&str> = Vec::new();
        for s in group {
            if matches!(s.channel, Channel::Depth(_)) && !book_symbols.contains(&s.symbol.as_str())
            {
                book_symbols.push(&s.symbol);
            }
        }
        let names = book_symbols
            .iter()
            .filter_map(|s| adapter.instrument(s).map(|i| (i, (*s).to_owned())))
            .collect();
        let rest =
            RestSnapshots::spawn_with_roots(&self.config, registry, &book_symbols, &self.roots)
                .map_err(|e| LaunchError::Failed(format!("snapshot thread: {e}")))?;
        let snapshots: Box<dyn SnapshotSource> = wrap(Box::new(rest), names);
        let handler = FeedHandler::new(adapter, snapshots, self.spec.handler);
        let mut config = connection_config(handler.adapter(), self.spec.options).map_err(|e| {
            LaunchError::Usage(format!("{}: {e}", handler.adapter().endpoint().url))
        })?;
        for der in &self.roots {
            config = config.trust_root_der(der);
        }
        Ok(BuiltConnection {
            config,
            handler: Box::new(handler),
        })
    }

    fn line_monitors(&self) -> Vec<tickwire_engine::adapter::LineMonitor> {
        self.feed.line_monitors()
    }

    /// With make-before-break rotation ([`BinanceFeed::start`]).
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        self.feed
            .start(engine, registry, consumers)
            .map_err(|e| error(&self.feed, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_speeds_parse() {
        assert_eq!(
            parse_channel("trade", DepthSpeed::Ms100),
            Some(Channel::Trade)
        );
        assert_eq!(
            parse_channel("aggTrade", DepthSpeed::Ms100),
            Some(Channel::AggTrade)
        );
        assert_eq!(
            parse_channel("BBO", DepthSpeed::Ms100),
            Some(Channel::BookTicker)
        );
        assert_eq!(
            parse_channel("book", DepthSpeed::Default),
            Some(Channel::Depth(DepthSpeed::Default))
        );
        assert_eq!(parse_channel("kline", DepthSpeed::Ms100), None);
        assert_eq!(parse_speed("100ms", Market::Spot), Ok(DepthSpeed::Ms100));
        assert!(parse_speed("0ms", Market::Spot).is_err());
        assert_eq!(parse_speed("0ms", Market::UsdM), Ok(DepthSpeed::Ms0));
        assert!(parse_speed("fast", Market::UsdM).is_err());
    }

    /// `--connections N` spreads the streams evenly over N connections, a symbol's streams
    /// together; never more connections than symbols; 0 is refused. Expected counts worked
    /// out by hand: 10 symbols x 3 channels = 30 streams over 4 -> 8 each, rounded up to
    /// whole symbols (9): groups of 9, 9, 9, 3.
    #[test]
    fn connections_spread_the_streams() {
        let registry = Registry::new();
        let symbols: Vec<String> = (0..10).map(|i| format!("S{i:03}USDT")).collect();
        let mut spec = LaunchSpec::new(&symbols, &["trade", "book", "bbo"]);
        spec.url = Some("ws://127.0.0.1:9/stream".into());
        let plan = |spec: &LaunchSpec| {
            BinanceLaunch::plan(Market::Spot, spec, &registry).map(|l| l.connections().len())
        };
        assert_eq!(plan(&spec), Ok(1));
        spec.connections = Some(4);
        assert_eq!(plan(&spec), Ok(4));
        spec.connections = Some(64);
        assert_eq!(plan(&spec), Ok(10), "one symbol a connection at most");
        spec.connections = Some(0);
        assert!(plan(&spec).is_err());
        let mut one = LaunchSpec::new(&["BTCUSDT"], &["trade", "book"]);
        one.url = spec.url.clone();
        one.connections = Some(8);
        assert_eq!(plan(&one), Ok(1));
    }

    /// Shards in processes of their own each take their share of the IP's REST weight;
    /// shards of one process share one scheduler, which keeps the whole.
    #[test]
    fn shards_in_processes_of_their_own_share_the_rest_weight_out() {
        let symbols: Vec<String> = (0..9).map(|i| format!("S{i}USDT")).collect();
        let mut spec = LaunchSpec::new(&symbols, &["book"]);
        spec.url = Some("ws://127.0.0.1:9/".into());
        let processes = |s: &LaunchSpec| {
            BinanceLaunch::plan(Market::Spot, s, &Registry::new())
                .unwrap()
                .config
                .rest_processes
        };
        assert_eq!(processes(&spec), 1);
        for s in crate::spread::shards(&spec, 3, |_| 1).unwrap() {
            assert_eq!(processes(&s), 1);
        }
        let own = crate::spread::Shard::parse("2/3").unwrap();
        let alone = crate::spread::shard_of(&spec, own, |_| 1).unwrap();
        assert_eq!(alone.symbols.len(), 3);
        assert_eq!(processes(&alone), 3);
    }
}
