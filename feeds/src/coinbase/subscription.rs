//! Coinbase Advanced Trade subscriptions and the connection planner.

/// A public channel (venues.md §3a). `heartbeats` is not one of these: every connection
/// subscribes it, on every (re)connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// `level2`: the whole book in-band (`l2_data` snapshot), then updates.
    Level2,
    /// `market_trades`.
    Trades,
    /// `ticker`: a BBO that ticks on trades.
    Ticker,
}

impl Channel {
    /// The name subscribe requests carry.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Level2 => "level2",
            Channel::Trades => "market_trades",
            Channel::Ticker => "ticker",
        }
    }

    /// The channel of a subscribe-request name.
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "level2" | "l2_data" => Some(Channel::Level2),
            "market_trades" | "trades" => Some(Channel::Trades),
            "ticker" => Some(Channel::Ticker),
            _ => None,
        }
    }
}

/// One product on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subscription {
    /// The product as Coinbase spells it, e.g. `SOL-USD`.
    pub product: String,
    /// The channel.
    pub channel: Channel,
}

impl Subscription {
    /// `product` on `channel` (upper-cased).
    pub fn new(product: &str, channel: Channel) -> Subscription {
        Subscription {
            product: product.to_ascii_uppercase(),
            channel,
        }
    }

    /// Every product × every channel.
    pub fn product(products: &[String], channels: &[Channel]) -> Vec<Subscription> {
        products
            .iter()
            .flat_map(|p| channels.iter().map(move |&c| Subscription::new(p, c)))
            .collect()
    }

    /// Whether the product is one Coinbase could name: 1 to 32 upper-case letters, digits
    /// and `-` (so it goes into a request frame without escaping).
    pub fn is_valid(&self) -> bool {
        valid_product(&self.product)
    }

    /// The text form run-time topics use: `level2:SOL-USD`.
    pub fn topic(&self) -> String {
        format!("{}:{}", self.channel.name(), self.product)
    }

    /// Reads [`Subscription::topic`]'s form back.
    pub fn from_topic(topic: &str) -> Option<Subscription> {
        let (channel, product) = topic.split_once(':')?;
        let s = Subscription::new(product, Channel::from_name(channel)?);
        s.is_valid().then_some(s)
    }
}

/// Whether `product` is 1 to 32 upper-case letters, digits and `-`.
pub fn valid_product(product: &str) -> bool {
    (1..=32).contains(&product.len())
        && product
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// `level2` products one connection carries by default: about 16 work, 32 were refused with
/// "too many L2 streams requested in a single session" (venues.md §12).
pub const L2_PRODUCTS_PER_CONNECTION: usize = 16;

/// Products (any channel) one connection carries by default.
pub const PRODUCTS_PER_CONNECTION: usize = 100;

/// Spreads `subs` over connections: every subscription of a product on one connection, at
/// most `max_l2` products with `level2` and `max_products` products in all on each, products
/// in the order first named. Duplicates are dropped. `max_l2` and `max_products` of 0 count
/// as 1.
pub fn plan_connections(
    subs: &[Subscription],
    max_l2: usize,
    max_products: usize,
) -> Vec<Vec<Subscription>> {
    let (max_l2, max_products) = (max_l2.max(1), max_products.max(1));
    let mut products: Vec<&str> = Vec::new();
    for s in subs {
        if !products.contains(&s.product.as_str()) {
            products.push(&s.product);
        }
    }
    let mut groups: Vec<Vec<Subscription>> = Vec::new();
    let (mut l2, mut count) = (0usize, 0usize);
    for p in products {
        let mine: Vec<Subscription> = {
            let mut v: Vec<Subscription> = Vec::new();
            for s in subs.iter().filter(|s| s.product == p) {
                if !v.contains(s) {
                    v.push(s.clone());
                }
            }
            v
        };
        let has_l2 = mine.iter().any(|s| s.channel == Channel::Level2);
        if groups.is_empty() || count == max_products || (has_l2 && l2 == max_l2) {
            groups.push(Vec::new());
            l2 = 0;
            count = 0;
        }
        count += 1;
        l2 += usize::from(has_l2);
        if let Some(g) = groups.last_mut() {
            g.extend(mine);
        }
    }
    groups
}
