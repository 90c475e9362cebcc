//! Bybit over several lines (A/B redundancy): [`arbitrated_feed`] runs the same
//! subscriptions on each line's endpoint and publishes each update once, the first copy
//! (see [`tickwire_engine::adapter::ArbitratedFeed`]). Book deltas are arbitrated by `u`
//! (`u = prev u + 1`; a `u == 1` reset once, whichever line brings it first), trades by
//! their id `i` (numeric on spot; a UUID on linear, matched by membership and kept in the
//! venue's order by each line's chain of trades), BBOs by `u` (spot `orderbook.1`) or the
//! ticker's `cs`.
//!
//! Books come in-band on every line: each line's (re)subscribe brings its own snapshot. A
//! snapshot one line brings ahead of the arbiter's book is held while the other lines bring
//! the deltas up to it (then skipped), and installed only if they do not within the hold; a
//! gap every line missed resubscribes the one topic on one line.

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, ArbitrationError, FeedConfig, QueuedSnapshots,
    SnapshotSource,
};

use super::adapter::{BybitAdapter, BybitConfig, PlanError};
use super::subscription::Subscription;

/// Why an arbitrated Bybit feed could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArbitratedFeedError {
    /// The subscriptions do not fit one connection.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// No lines, too many, or invalid arbitration settings.
    #[error(transparent)]
    Arbitration(#[from] ArbitrationError),
}

/// A Bybit feed of `subs` (one connection's worth) over one line per entry of `lines`
/// (each its own `ws_base`, the same market). Add it with
/// [`tickwire_engine::adapter::add_arbitrated_feed`].
pub fn arbitrated_feed(
    lines: &[BybitConfig],
    subs: &[Subscription],
    registry: &Registry,
    feed: FeedConfig,
    arbitration: ArbitrationConfig,
) -> Result<ArbitratedFeed<BybitAdapter>, ArbitratedFeedError> {
    let first = lines
        .first()
        .ok_or(ArbitratedFeedError::Arbitration(ArbitrationError::Config))?;
    // Checked here, so that the factory below cannot fail on line 0.
    let subs = BybitAdapter::new(first.clone(), subs, registry)?
        .subscriptions()
        .to_vec();
    let (configs, registry) = (lines.to_vec(), registry.clone());
    let factory = move |line: usize| {
        let adapter = BybitAdapter::new(configs.get(line)?.clone(), &subs, &registry).ok()?;
        Some((
            adapter,
            Box::new(QueuedSnapshots::new()) as Box<dyn SnapshotSource>,
        ))
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
    use crate::bybit::{Channel, Depth, Market};
    use tickwire_engine::FeedAdapter;

    #[test]
    fn each_line_connects_to_its_own_endpoint() {
        let mut a = BybitConfig::for_market(Market::Linear);
        a.ws_base = Some("ws://127.0.0.1:9".into());
        let mut b = a.clone();
        b.ws_base = Some("ws://127.0.0.2:10".into());
        let subs = Subscription::product(&["BTCUSDT"], &[Channel::Book(Depth::L50)]);
        let registry = Registry::new();
        let feed = arbitrated_feed(
            &[a, b],
            &subs,
            &registry,
            FeedConfig::default(),
            ArbitrationConfig::default(),
        )
        .unwrap();
        assert_eq!(feed.line_count(), 2);
        // venues.md §5: the market's path follows the host.
        assert_eq!(
            feed.line(1).unwrap().adapter().endpoint().url,
            "ws://127.0.0.2:10/v5/public/linear"
        );
        assert_eq!(
            feed.line(0).unwrap().adapter().endpoint().url,
            "ws://127.0.0.1:9/v5/public/linear"
        );
        let none = arbitrated_feed(
            &[],
            &subs,
            &registry,
            FeedConfig::default(),
            ArbitrationConfig::default(),
        );
        assert!(matches!(
            none.err(),
            Some(ArbitratedFeedError::Arbitration(ArbitrationError::Config))
        ));
    }
}
