//! What a caller subscribes to on Bybit v5 public, the topic names, and how subscriptions are
//! spread over connections (venues.md §5: at most 21,000 characters of args per connection;
//! spot takes at most 10 args per subscribe request).

use std::collections::HashSet;

/// Most characters of topic args one public connection may carry (venues.md §5).
pub const MAX_ARGS_CHARS_PER_CONNECTION: usize = 21_000;

/// Most args in one spot subscribe request (venues.md §5; futures have no count limit).
pub const SPOT_ARGS_PER_REQUEST: usize = 10;

/// Bybit allows at most 500 new connections per 5 minutes per WebSocket domain (venues.md §5).
/// A plan that needs more is refused (every reconnect of every connection counts too, which
/// the engine's jittered reconnect backoff spreads out).
pub const MAX_CONNECTIONS_PER_5_MIN: usize = 500;

/// Longest symbol a subscription may name.
pub const MAX_SYMBOL_LEN: usize = 32;

/// Which Bybit v5 public product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Market {
    /// `/v5/public/spot`, venue name `bybit`.
    Spot,
    /// `/v5/public/linear` (USDT/USDC perpetuals and futures), venue name `bybit-linear`.
    Linear,
}

impl Market {
    /// The venue name events carry.
    pub const fn venue(self) -> &'static str {
        match self {
            Market::Spot => "bybit",
            Market::Linear => "bybit-linear",
        }
    }

    /// The endpoint path.
    pub const fn path(self) -> &'static str {
        match self {
            Market::Spot => "/v5/public/spot",
            Market::Linear => "/v5/public/linear",
        }
    }

    /// The market of a venue name (`bybit`, `bybit-linear`).
    pub fn from_venue(venue: &str) -> Option<Market> {
        match venue {
            "bybit" | "bybit-spot" => Some(Market::Spot),
            "bybit-linear" => Some(Market::Linear),
            _ => None,
        }
    }

    /// Most args in one subscribe or unsubscribe request.
    pub const fn args_per_request(self) -> usize {
        match self {
            Market::Spot => SPOT_ARGS_PER_REQUEST,
            // No documented count limit for futures: requests stay small anyway.
            Market::Linear => 100,
        }
    }
}

/// Depth of an `orderbook.{depth}` channel (spot and linear: 1, 50, 200; 500 no longer exists
/// on linear, 1000 is left out: its snapshot exceeds what consumers' rings are sized for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Depth {
    /// `orderbook.1`: snapshot-only, every 10 ms on change, re-pushed after 3 s unchanged.
    L1,
    /// `orderbook.50`: snapshot then deltas, every 20 ms.
    L50,
    /// `orderbook.200`: snapshot then deltas, every 100 ms (spot since 2026-03; linear 100 ms).
    L200,
}

impl Depth {
    /// The number of levels a side.
    pub const fn levels(self) -> usize {
        match self {
            Depth::L1 => 1,
            Depth::L50 => 50,
            Depth::L200 => 200,
        }
    }

    /// The documented push interval, ms.
    pub const fn push_ms(self) -> u64 {
        match self {
            Depth::L1 => 10,
            Depth::L50 => 20,
            Depth::L200 => 100,
        }
    }

    /// The depth of a level count.
    pub fn from_levels(n: &str) -> Option<Depth> {
        match n {
            "1" => Some(Depth::L1),
            "50" => Some(Depth::L50),
            "200" => Some(Depth::L200),
            _ => None,
        }
    }
}

/// A Bybit market-data channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `publicTrade.{symbol}`: every trade, side = taker.
    Trade,
    /// Best bid and offer. Linear: `tickers.{symbol}` (snapshot, then deltas of the changed
    /// fields, merged into a full BBO by the adapter). Spot: `orderbook.1.{symbol}`, because
    /// spot tickers carry no bid/ask (venues.md §5); so on spot [`Channel::Bbo`] and
    /// `Book(Depth::L1)` are the same topic and, with both, the book wins.
    Bbo,
    /// `orderbook.{depth}.{symbol}`: a book kept in sync from the in-band snapshot.
    Book(Depth),
}

/// One subscription: a symbol and a channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Symbol as Bybit spells it (`BTCUSDT`).
    pub symbol: String,
    /// The channel.
    pub channel: Channel,
}

/// 1 to [`MAX_SYMBOL_LEN`] ASCII upper-case letters, digits or `-` (dated futures:
/// `BTC-26DEC25`). Anything else could break a topic string.
pub fn valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL_LEN
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

impl Subscription {
    /// A subscription; the symbol is upper-cased.
    pub fn new(symbol: &str, channel: Channel) -> Subscription {
        Subscription {
            symbol: symbol.to_ascii_uppercase(),
            channel,
        }
    }

    /// Every symbol × every channel.
    pub fn product<S: AsRef<str>>(symbols: &[S], channels: &[Channel]) -> Vec<Subscription> {
        let mut v = Vec::with_capacity(symbols.len() * channels.len());
        for s in symbols {
            for &c in channels {
                v.push(Subscription::new(s.as_ref(), c));
            }
        }
        v
    }

    /// Whether the symbol is valid ([`valid_symbol`]).
    pub fn is_valid(&self) -> bool {
        valid_symbol(&self.symbol)
    }

    /// The topic on `market` (`orderbook.50.BTCUSDT`, `publicTrade.BTCUSDT`,
    /// `tickers.BTCUSDT`; spot BBO: `orderbook.1.BTCUSDT`).
    pub fn topic(&self, market: Market) -> String {
        match (self.channel, market) {
            (Channel::Trade, _) => format!("publicTrade.{}", self.symbol),
            (Channel::Bbo, Market::Linear) => format!("tickers.{}", self.symbol),
            (Channel::Bbo, Market::Spot) => format!("orderbook.1.{}", self.symbol),
            (Channel::Book(d), _) => format!("orderbook.{}.{}", d.levels(), self.symbol),
        }
    }

    /// Reads a topic: the venue's (`orderbook.50.BTCUSDT`, `publicTrade.BTCUSDT`, linear
    /// `tickers.BTCUSDT`) or `bbo.BTCUSDT` for [`Channel::Bbo`] on either market.
    /// `orderbook.1.X` is a book (on spot, `bbo.X` names the same topic as a BBO).
    pub fn from_topic(market: Market, topic: &str) -> Option<Subscription> {
        let (channel, symbol) = if let Some(rest) = topic.strip_prefix("orderbook.") {
            let (n, symbol) = rest.split_once('.')?;
            (Channel::Book(Depth::from_levels(n)?), symbol)
        } else if let Some(symbol) = topic.strip_prefix("publicTrade.") {
            (Channel::Trade, symbol)
        } else if let Some(symbol) = topic.strip_prefix("tickers.") {
            if market != Market::Linear {
                return None; // spot tickers carry no BBO
            }
            (Channel::Bbo, symbol)
        } else if let Some(symbol) = topic.strip_prefix("bbo.") {
            (Channel::Bbo, symbol)
        } else {
            return None;
        };
        valid_symbol(symbol).then(|| Subscription {
            symbol: symbol.to_owned(),
            channel,
        })
    }
}

/// The distinct topics of `subs` on `market`, in first-seen order.
pub fn topics(market: Market, subs: &[Subscription]) -> Vec<String> {
    let mut seen = HashSet::with_capacity(subs.len());
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        let t = s.topic(market);
        if seen.insert(t.clone()) {
            out.push(t);
        }
    }
    out
}

/// Spreads `subs` (deduplicated) over connections: each connection's topics total at most
/// `max_chars` characters (at most [`MAX_ARGS_CHARS_PER_CONNECTION`]) and `max_topics`
/// topics; a symbol's subscriptions stay on one connection when they fit.
pub fn plan_connections(
    market: Market,
    subs: &[Subscription],
    max_topics: usize,
    max_chars: usize,
) -> Vec<Vec<Subscription>> {
    let max_chars = max_chars.clamp(1, MAX_ARGS_CHARS_PER_CONNECTION);
    let max_topics = max_topics.max(1);
    let mut seen: HashSet<&Subscription> = HashSet::with_capacity(subs.len());
    let unique: Vec<&Subscription> = subs.iter().filter(|s| seen.insert(*s)).collect();
    // (subscriptions, topics, characters) per connection.
    let mut groups: Vec<(Vec<Subscription>, HashSet<String>, usize)> = Vec::new();
    let mut i = 0;
    while i < unique.len() {
        let sym = &unique[i].symbol;
        let unit: Vec<&Subscription> = unique[i..]
            .iter()
            .take_while(|s| &s.symbol == sym)
            .copied()
            .collect();
        i += unit.len();
        let unit_topics = topics(
            market,
            &unit.iter().map(|s| (*s).clone()).collect::<Vec<_>>(),
        );
        let chars: usize = unit_topics.iter().map(String::len).sum();
        let fits = |g: &(Vec<Subscription>, HashSet<String>, usize)| {
            g.1.len() + unit_topics.len() <= max_topics && g.2 + chars <= max_chars
        };
        match groups.last_mut() {
            Some(g) if fits(g) => {
                g.0.extend(unit.into_iter().cloned());
                g.1.extend(unit_topics);
                g.2 += chars;
            }
            _ => {
                // One subscription at a time (a symbol that alone exceeds a connection is
                // split; one topic always fits).
                let mut g: (Vec<Subscription>, HashSet<String>, usize) =
                    (Vec::new(), HashSet::new(), 0);
                for s in unit {
                    let t = s.topic(market);
                    let new = !g.1.contains(&t);
                    if new
                        && !g.0.is_empty()
                        && (g.1.len() + 1 > max_topics || g.2 + t.len() > max_chars)
                    {
                        groups.push(std::mem::take(&mut g));
                    }
                    g.2 += t.len() * usize::from(new);
                    g.1.insert(t);
                    g.0.push(s.clone());
                }
                groups.push(g);
            }
        }
    }
    groups.into_iter().map(|g| g.0).collect()
}
