//! Binance feeds that outlive the venue's 24 h connection limit: [`rotating_feed`] wraps the
//! Binance adapter in a [`RotatingFeed`], which opens a fresh connection 10 minutes before
//! the limit (or at once on `serverShutdown`), switches to it when the update ids line up
//! and closes the old one, so no update is lost or delivered twice.
//!
//! ```no_run
//! use tickwire_engine::adapter::{FeedConfig, add_rotating_feed};
//! use tickwire_engine::config::{ConnectionOptions, EngineConfig};
//! use tickwire_engine::{Engine, Registry};
//! use tickwire_feeds::binance::rotation::{rotating_feed, rotation_config};
//! use tickwire_feeds::binance::{BinanceConfig, Channel, DepthSpeed, Subscription};
//!
//! let mut builder = Engine::builder(EngineConfig::default());
//! let (consumer_id, _consumer) = builder.consumer(1 << 16);
//! let engine = builder.start()?;
//! let registry = Registry::new();
//! let subs = Subscription::product(
//!     &["BTCUSDT"],
//!     &[Channel::Depth(DepthSpeed::Ms100), Channel::Trade],
//! );
//! let feed = rotating_feed(
//!     BinanceConfig::spot(),
//!     &subs,
//!     &registry,
//!     &[],
//!     FeedConfig::default(),
//!     rotation_config(),
//! )?;
//! add_rotating_feed(&engine.handle(), feed, ConnectionOptions::default(), &[], &[consumer_id])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    FeedConfig, RotatingFeed, RotationConfig, RotationError, SnapshotSource,
};

use super::adapter::{BinanceAdapter, PlanError};
use super::config::BinanceConfig;
use super::snapshot::RestSnapshots;
use super::subscription::{Channel, Subscription};

/// How long Binance keeps a WebSocket connection (spot and USD-M).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long before [`CONNECTION_LIFETIME`] a rotation starts.
pub const ROTATION_MARGIN: Duration = Duration::from_secs(10 * 60);

/// When a connection is rotated: 23 h 50 min after it came up.
pub const ROTATE_AFTER: Duration =
    Duration::from_secs(CONNECTION_LIFETIME.as_secs() - ROTATION_MARGIN.as_secs());

/// Binance's rotation settings: rotate [`ROTATE_AFTER`] (23 h 50 min) into each connection;
/// retry after 5 s, abandon a standby not ready within 60 s.
pub fn rotation_config() -> RotationConfig {
    RotationConfig::new(CONNECTION_LIFETIME, ROTATION_MARGIN)
}

/// Why a rotating Binance feed could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RotatingFeedError {
    /// The subscriptions do not fit one connection.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The rotation settings are invalid.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// The snapshot thread of the first connection could not start.
    #[error("could not start the snapshot thread: {0}")]
    Snapshots(std::io::ErrorKind),
}

/// A Binance feed for one connection's worth of `subs` (one group of
/// [`super::plan_connections`]) that rotates per `rotation` (usually [`rotation_config`]).
/// Every connection gets its own adapter and, if it carries depth, a snapshot source on the
/// venue's shared REST scheduler, which trusts `extra_roots` (DER) besides the webpki roots. Add it with
/// [`tickwire_engine::adapter::add_rotating_feed`] (same `extra_roots`).
pub fn rotating_feed(
    config: BinanceConfig,
    subs: &[Subscription],
    registry: &Registry,
    extra_roots: &[Vec<u8>],
    feed: FeedConfig,
    rotation: RotationConfig,
) -> Result<RotatingFeed<BinanceAdapter>, RotatingFeedError> {
    let adapter = BinanceAdapter::new(config.clone(), subs, registry)?;
    let subs = adapter.subscriptions().to_vec();
    let mut book_symbols: Vec<String> = subs
        .iter()
        .filter(|s| matches!(s.channel, Channel::Depth(_)))
        .map(|s| s.symbol.to_ascii_uppercase())
        .collect();
    book_symbols.sort_unstable();
    book_symbols.dedup();
    let snapshots = {
        let (config, registry, roots) = (config.clone(), registry.clone(), extra_roots.to_vec());
        move || -> std::io::Result<Box<dyn SnapshotSource>> {
            let names: Vec<&str> = book_symbols.iter().map(String::as_str).collect();
            let rest = RestSnapshots::spawn_with_roots(&config, &registry, &names, &roots)?;
            Ok(Box::new(rest))
        }
    };
    let first_snapshots = snapshots().map_err(|e| RotatingFeedError::Snapshots(e.kind()))?;
    let registry = registry.clone();
    let mut first = Some((adapter, first_snapshots));
    let factory = move || {
        if let Some(f) = first.take() {
            return Some(f);
        }
        let adapter = BinanceAdapter::new(config.clone(), &subs, &registry).ok()?;
        Some((adapter, snapshots().ok()?))
    };
    Ok(RotatingFeed::new(Box::new(factory), feed, rotation)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::DepthSpeed;
    use tickwire_engine::FeedAdapter;

    #[test]
    fn rotates_ten_minutes_before_the_day_is_up() {
        assert_eq!(ROTATE_AFTER, Duration::from_secs(23 * 3600 + 50 * 60));
        let c = rotation_config();
        assert_eq!(c.lifetime, Some(CONNECTION_LIFETIME));
        assert_eq!(c.margin, ROTATION_MARGIN);
    }

    #[test]
    fn builds_a_feed_on_the_configured_endpoint() {
        let mut config = BinanceConfig::spot();
        config.ws_base = Some("ws://127.0.0.1:9".into());
        config.rest_base = Some("http://127.0.0.1:9".into());
        let subs = Subscription::product(&["btcusdt"], &[Channel::Depth(DepthSpeed::Ms100)]);
        let registry = Registry::new();
        let feed = rotating_feed(
            config,
            &subs,
            &registry,
            &[],
            FeedConfig::default(),
            rotation_config(),
        )
        .unwrap();
        assert_eq!(
            feed.adapter().endpoint().url,
            "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms"
        );
        assert!(!feed.rotating());
        let bad = RotationConfig::new(Duration::from_secs(1), Duration::from_secs(2));
        let err = rotating_feed(
            BinanceConfig::spot(),
            &subs,
            &registry,
            &[],
            FeedConfig::default(),
            bad,
        )
        .err();
        assert_eq!(
            err,
            Some(RotatingFeedError::Rotation(RotationError::Config))
        );
        assert!(matches!(
            rotating_feed(
                BinanceConfig::spot(),
                &[],
                &registry,
                &[],
                FeedConfig::default(),
                rotation_config()
            ),
            Err(RotatingFeedError::Plan(PlanError::Empty))
        ));
    }
}
