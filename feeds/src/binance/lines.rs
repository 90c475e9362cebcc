//! Binance over several lines (A/B redundancy): [`arbitrated_feed`] runs the same
//! subscriptions on each line's endpoint and publishes each update once, the first copy
//! (see [`tickwire_engine::adapter::ArbitratedFeed`]). Depth diffs are arbitrated by their
//! update ids (`U`/`u`, and `pu` on USD-M), trades by their trade ids, BBOs by `u`.

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, ArbitrationError, FeedConfig, SnapshotSource,
};

use super::adapter::{BinanceAdapter, PlanError};
use super::config::BinanceConfig;
use super::rotation::{CONNECTION_LIFETIME, ROTATION_MARGIN};
use super::snapshot::RestSnapshots;
use super::subscription::{Channel, Subscription};

/// Binance's arbitration settings: the defaults, with each line reconnecting on its own
/// ahead of the venue's 24 h connection limit (line `n` at 24 h − `(n + 1)` × 10 min), so
/// lines that connected together are never closed together.
pub fn arbitration_config() -> ArbitrationConfig {
    ArbitrationConfig {
        lifetime: Some(CONNECTION_LIFETIME),
        margin: ROTATION_MARGIN,
        ..ArbitrationConfig::default()
    }
}

/// Why an arbitrated Binance feed could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArbitratedFeedError {
    /// The subscriptions do not fit one connection.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// No lines, too many, or invalid arbitration settings.
    #[error(transparent)]
    Arbitration(#[from] ArbitrationError),
    /// The snapshot thread could not start.
    #[error("could not start the snapshot thread: {0}")]
    Snapshots(std::io::ErrorKind),
}

/// A Binance feed of `subs` (one connection's worth) over one line per entry of `lines`
/// (each its own `ws_base`; REST snapshots come from line 0's `rest_base`, through the
/// venue's shared scheduler, trusting `extra_roots`). Add it with
/// [`tickwire_engine::adapter::add_arbitrated_feed`].
pub fn arbitrated_feed(
    lines: &[BinanceConfig],
    subs: &[Subscription],
    registry: &Registry,
    extra_roots: &[Vec<u8>],
    feed: FeedConfig,
    arbitration: ArbitrationConfig,
) -> Result<ArbitratedFeed<BinanceAdapter>, ArbitratedFeedError> {
    let first = lines
        .first()
        .ok_or(ArbitratedFeedError::Arbitration(ArbitrationError::Config))?;
    let adapter = BinanceAdapter::new(first.clone(), subs, registry)?;
    let subs = adapter.subscriptions().to_vec();
    let mut book_symbols: Vec<String> = subs
        .iter()
        .filter(|s| matches!(s.channel, Channel::Depth(_)))
        .map(|s| s.symbol.to_ascii_uppercase())
        .collect();
    book_symbols.sort_unstable();
    book_symbols.dedup();
    let names: Vec<&str> = book_symbols.iter().map(String::as_str).collect();
    let rest = RestSnapshots::spawn_with_roots(first, registry, &names, extra_roots)
        .map_err(|e| ArbitratedFeedError::Snapshots(e.kind()))?;
    let mut snapshots: Option<Box<dyn SnapshotSource>> = Some(Box::new(rest));
    let (configs, registry) = (lines.to_vec(), registry.clone());
    let factory = move |line: usize| {
        let adapter = BinanceAdapter::new(configs.get(line)?.clone(), &subs, &registry).ok()?;
        // The first build is the arbiter's: it gets the REST source; lines need none.
        let source = snapshots
            .take()
            .unwrap_or_else(|| Box::new(tickwire_engine::adapter::QueuedSnapshots::new()));
        Some((adapter, source))
    };
    Ok(ArbitratedFeed::new(
        Box::new(factory),
        lines.len(),
        feed,
        arbitration,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::DepthSpeed;
    use tickwire_engine::FeedAdapter;

    #[test]
    fn each_line_connects_to_its_own_endpoint() {
        let mut a = BinanceConfig::spot();
        a.ws_base = Some("ws://127.0.0.1:9".into());
        a.rest_base = Some("http://127.0.0.1:9".into());
        let mut b = a.clone();
        b.ws_base = Some("ws://127.0.0.2:10".into());
        let subs = Subscription::product(&["btcusdt"], &[Channel::Depth(DepthSpeed::Ms100)]);
        let registry = Registry::new();
        let feed = arbitrated_feed(
            &[a, b],
            &subs,
            &registry,
            &[],
            FeedConfig::default(),
            ArbitrationConfig::default(),
        )
        .unwrap();
        assert_eq!(feed.line_count(), 2);
        assert_eq!(
            feed.line(1).unwrap().adapter().endpoint().url,
            "ws://127.0.0.2:10/stream?streams=btcusdt@depth@100ms"
        );
        assert_eq!(
            feed.line(0).unwrap().adapter().endpoint().url,
            "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms"
        );
        let none = arbitrated_feed(
            &[],
            &subs,
            &registry,
            &[],
            FeedConfig::default(),
            ArbitrationConfig::default(),
        );
        assert!(matches!(
            none.err(),
            Some(ArbitratedFeedError::Arbitration(ArbitrationError::Config))
        ));
    }
}
