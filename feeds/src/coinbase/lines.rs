//! Coinbase over several lines (A/B redundancy): [`arbitrated_feed`] runs the same
//! subscriptions on each line's endpoint. Coinbase numbers book updates and tickers by the
//! connection's `sequence_num`, so two lines' copies cannot be lined up update by update
//! ([`FeedAdapter::copies_line_up`]): the feed **fails over** instead. Every line keeps
//! its own books in sync (its own in-band snapshots; a break in its `sequence_num`
//! resubscribes on that line alone) and each book is published from one line; when that
//! line loses the book, drops, goes silent or lags, a line that has it in sync takes over,
//! published as a SNAPSHOT run (no `Gap`, no `Resync`). Trades are taken first copy by
//! their `trade_id`; tickers (BBOs) come from one line per product. See
//! [`tickwire_engine::adapter::ArbitratedFeed`].
//!
//! [`FeedAdapter::copies_line_up`]: tickwire_engine::adapter::FeedAdapter::copies_line_up

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, ArbitrationError, FeedConfig, QueuedSnapshots,
    SnapshotSource,
};

use super::adapter::{CoinbaseAdapter, CoinbaseConfig, PlanError};
use super::subscription::Subscription;

/// Why an arbitrated Coinbase feed could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArbitratedFeedError {
    /// The subscriptions do not fit one connection.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// No lines, too many, or invalid arbitration settings.
    #[error(transparent)]
    Arbitration(#[from] ArbitrationError),
}

/// A Coinbase feed of `subs` (one connection's worth) over one line per entry of `lines`
/// (each its own `ws_url`). Add it with [`tickwire_engine::adapter::add_arbitrated_feed`].
pub fn arbitrated_feed(
    lines: &[CoinbaseConfig],
    subs: &[Subscription],
    registry: &Registry,
    feed: FeedConfig,
    arbitration: ArbitrationConfig,
) -> Result<ArbitratedFeed<CoinbaseAdapter>, ArbitratedFeedError> {
    let first = lines
        .first()
        .ok_or(ArbitratedFeedError::Arbitration(ArbitrationError::Config))?;
    // Checked once here, so the factory below cannot fail on the plan.
    CoinbaseAdapter::new(first.clone(), subs, registry)?;
    let (configs, subs, registry) = (lines.to_vec(), subs.to_vec(), registry.clone());
    let factory = move |line: usize| {
        let adapter = CoinbaseAdapter::new(configs.get(line)?.clone(), &subs, &registry).ok()?;
        // Books come in-band on every line.
        let source: Box<dyn SnapshotSource> = Box::new(QueuedSnapshots::new());
        Some((adapter, source))
    };
    Ok(ArbitratedFeed::new(
        Box::new(factory),
        lines.len(),
        feed,
        arbitration,
    )?)
}
