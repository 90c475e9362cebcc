//! What a caller subscribes to on Binance, the stream names, and how subscriptions are
//! spread over connections (at most [`MAX_STREAMS_PER_CONNECTION`] streams each; USD-M's
//! routed endpoints also split `/public` and `/market` streams).

use super::config::{BinanceConfig, Market};

/// Binance's limit of streams on one connection.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// Longest symbol a subscription may name (Binance's are far shorter).
pub const MAX_SYMBOL_LEN: usize = 32;

/// 1 to [`MAX_SYMBOL_LEN`] ASCII letters and digits.
fn valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL_LEN
        && symbol.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Update speed of a diff-depth stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepthSpeed {
    /// `@depth`: 1000 ms on spot, 250 ms on USD-M.
    Default,
    /// `@depth@100ms`.
    Ms100,
    /// `@depth@500ms` (USD-M).
    Ms500,
    /// `@depth@0ms`: unthrottled (USD-M; undocumented, used by real collectors).
    Ms0,
}

/// A Binance market-data channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `@trade`: every trade.
    Trade,
    /// `@aggTrade`: trades aggregated per taker order (events flagged AGGREGATED).
    AggTrade,
    /// `@bookTicker`: best bid and offer.
    BookTicker,
    /// Diff depth: runs of book levels, kept in sync with a REST snapshot.
    Depth(DepthSpeed),
}

impl Channel {
    /// The stream-name suffix after `<symbol>@`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Channel::Trade => "trade",
            Channel::AggTrade => "aggTrade",
            Channel::BookTicker => "bookTicker",
            Channel::Depth(DepthSpeed::Default) => "depth",
            Channel::Depth(DepthSpeed::Ms100) => "depth@100ms",
            Channel::Depth(DepthSpeed::Ms500) => "depth@500ms",
            Channel::Depth(DepthSpeed::Ms0) => "depth@0ms",
        }
    }

    /// USD-M routed endpoint category: `/public` (book streams) or `/market` (the rest).
    pub const fn usdm_route(self) -> Route {
        match self {
            Channel::BookTicker | Channel::Depth(_) => Route::Public,
            Channel::Trade | Channel::AggTrade => Route::Market,
        }
    }

    /// Parses a suffix (`trade`, `depth@100ms`, ...).
    pub fn from_suffix(s: &str) -> Option<Channel> {
        Some(match s {
            "trade" => Channel::Trade,
            "aggTrade" => Channel::AggTrade,
            "bookTicker" => Channel::BookTicker,
            "depth" => Channel::Depth(DepthSpeed::Default),
            "depth@100ms" => Channel::Depth(DepthSpeed::Ms100),
            "depth@500ms" => Channel::Depth(DepthSpeed::Ms500),
            "depth@0ms" => Channel::Depth(DepthSpeed::Ms0),
            _ => return None,
        })
    }
}

/// USD-M endpoint path category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `/public`: high-frequency book streams.
    Public,
    /// `/market`: trades and other regular streams.
    Market,
}

impl Route {
    /// The path segment.
    pub const fn path(self) -> &'static str {
        match self {
            Route::Public => "/public",
            Route::Market => "/market",
        }
    }
}

/// One stream: a symbol and a channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Symbol in Binance's canonical upper case (`BTCUSDT`).
    pub symbol: String,
    /// The channel.
    pub channel: Channel,
}

impl Subscription {
    /// A subscription; the symbol is upper-cased.
    pub fn new(symbol: &str, channel: Channel) -> Subscription {
        Subscription {
            symbol: symbol.to_ascii_uppercase(),
            channel,
        }
    }

    /// The stream name (`btcusdt@depth@100ms`).
    pub fn stream(&self) -> String {
        format!(
            "{}@{}",
            self.symbol.to_ascii_lowercase(),
            self.channel.suffix()
        )
    }

    /// Parses a stream name (`btcusdt@trade`): a symbol of 1 to [`MAX_SYMBOL_LEN`] lower-case
    /// letters and digits (Binance stream names are lower case), `@`, and the suffix of a
    /// known [`Channel`]. Anything else is `None`, so a topic cannot smuggle JSON or URL
    /// syntax into a request.
    pub fn from_stream(stream: &str) -> Option<Subscription> {
        let (sym, suffix) = stream.split_once('@')?;
        let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !valid_symbol(sym) || !sym.bytes().all(lower) {
            return None;
        }
        Some(Subscription::new(sym, Channel::from_suffix(suffix)?))
    }

    /// Whether the symbol is in Binance's alphabet (1 to [`MAX_SYMBOL_LEN`] ASCII letters and
    /// digits). Adapters skip subscriptions that are not, so neither a frame nor a URL can
    /// carry anything else.
    pub fn is_valid(&self) -> bool {
        valid_symbol(&self.symbol)
    }

    /// Every symbol × channel pair, in order.
    pub fn product(symbols: &[&str], channels: &[Channel]) -> Vec<Subscription> {
        symbols
            .iter()
            .flat_map(|s| channels.iter().map(move |c| Subscription::new(s, *c)))
            .collect()
    }
}

/// Spreads subscriptions over connections: duplicates removed, USD-M routed streams grouped
/// by route, at most `config.max_streams` (≤ [`MAX_STREAMS_PER_CONNECTION`]) per group, and
/// all streams of one symbol kept on one connection where they fit (so a book and its
/// bookTicker share a connection). Each group is one [`super::BinanceAdapter`].
pub fn plan_connections(config: &BinanceConfig, subs: &[Subscription]) -> Vec<Vec<Subscription>> {
    let max = config.max_streams.clamp(1, MAX_STREAMS_PER_CONNECTION);
    // A set, not `Vec::contains`: whole-venue lists (10,000 streams) made this quadratic.
    let mut seen: std::collections::HashSet<&Subscription> =
        std::collections::HashSet::with_capacity(subs.len());
    let unique: Vec<Subscription> = subs.iter().filter(|s| seen.insert(*s)).cloned().collect();
    let routed = config.market == Market::UsdM && config.usdm_routed;
    let mut groups: Vec<(Option<Route>, Vec<Subscription>)> = Vec::new();
    let mut i = 0;
    while i < unique.len() {
        // The run of streams for one symbol (and route) moves as a unit when it fits.
        let route = routed.then(|| unique[i].channel.usdm_route());
        let sym = unique[i].symbol.clone();
        let unit: Vec<Subscription> = unique[i..]
            .iter()
            .take_while(|s| s.symbol == sym && routed.then(|| s.channel.usdm_route()) == route)
            .cloned()
            .collect();
        i += unit.len();
        let fits = groups
            .iter_mut()
            .rev()
            .find(|(r, g)| *r == route && g.len() + unit.len() <= max);
        match fits {
            Some((_, g)) => g.extend(unit),
            None if unit.len() <= max => groups.push((route, unit)),
            None => {
                for s in unit {
                    match groups.last_mut() {
                        Some((r, g)) if *r == route && g.len() < max => g.push(s),
                        _ => groups.push((route, vec![s])),
                    }
                }
            }
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        let s = Subscription::new("btcusdt", Channel::Depth(DepthSpeed::Ms100));
        assert_eq!(s.symbol, "BTCUSDT");
        assert_eq!(s.stream(), "btcusdt@depth@100ms");
        assert_eq!(Subscription::from_stream("btcusdt@depth@100ms"), Some(s));
        assert_eq!(
            Subscription::from_stream("ethusdt@aggTrade")
                .unwrap()
                .channel,
            Channel::AggTrade
        );
        assert_eq!(Subscription::from_stream("x@kline_1m"), None);
    }

    /// Issue 19 item 4: a topic is a stream name in Binance's alphabet or nothing; the
    /// injection string of the issue (it once became a second `method` key) is refused.
    #[test]
    fn topics_outside_the_alphabet_are_refused() {
        let refused = [
            r#"btc"],"method":"LIST_SUBSCRIPTIONS","x":["@trade"#,
            "@trade",
            "btc usdt@trade",
            "btc/usdt@trade",
            "btc\\u0022@trade",
            "BTCUSDT@trade",
            "btcusdt@trade\"",
            "btcusdt@Trade",
            "btcusdt@depth@100ms\u{0}",
            "btcusdt@depth5",
            "\u{e9}thusdt@trade",
            &"a".repeat(MAX_SYMBOL_LEN + 1),
        ];
        for t in refused {
            assert_eq!(Subscription::from_stream(t), None, "{t:?}");
        }
        let long = format!("{}@trade", "a".repeat(MAX_SYMBOL_LEN));
        assert!(Subscription::from_stream(&long).is_some());
        assert!(Subscription::from_stream("1000shibusdt@aggTrade").is_some());
        assert!(!Subscription::new("BTC\"USDT", Channel::Trade).is_valid());
        assert!(Subscription::new("btcusdt", Channel::Trade).is_valid());
    }

    #[test]
    fn plans_respect_the_stream_limit_and_routes() {
        let syms: Vec<String> = (0..700).map(|i| format!("S{i}USDT")).collect();
        let refs: Vec<&str> = syms.iter().map(|s| s.as_str()).collect();
        let subs =
            Subscription::product(&refs, &[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)]);
        let spot = BinanceConfig::spot();
        let plan = plan_connections(&spot, &subs);
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|g| g.len() <= 1024));
        assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), 1400);
        // Both streams of a symbol stay together.
        for g in &plan {
            for s in g {
                assert_eq!(g.iter().filter(|t| t.symbol == s.symbol).count(), 2);
            }
        }
        let usdm = BinanceConfig::usdm();
        let plan = plan_connections(&usdm, &subs[..20]);
        assert_eq!(
            plan.len(),
            2,
            "routed: /market trades and /public depth apart"
        );
        assert!(plan.iter().all(|g| {
            let r = g[0].channel.usdm_route();
            g.iter().all(|s| s.channel.usdm_route() == r)
        }));
        let mut small = BinanceConfig::spot();
        small.max_streams = 3;
        let plan = plan_connections(&small, &subs[..10]);
        assert!(plan.iter().all(|g| g.len() <= 3));
        assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), 10);
        // Duplicates collapse.
        let dup = vec![subs[0].clone(), subs[0].clone()];
        assert_eq!(plan_connections(&spot, &dup), vec![vec![subs[0].clone()]]);
    }
}
