//! OKX over several lines (A/B redundancy): [`arbitrated_feed`] runs the same
//! subscriptions on each line's endpoint and publishes each update once, the first copy
//! (see [`tickwire_engine::adapter::ArbitratedFeed`]). Book updates are arbitrated by
//! `seqId`/`prevSeqId`, trades by `tradeId`, BBOs (`bbo-tbt`) by their `seqId`.
//!
//! Books start in-band on every line (each line's subscribe brings its own snapshot; one a
//! line brings ahead of the arbiter's book is held while the other lines bring the updates
//! up to it); the REST start (line 0's `rest_base`) serves the arbiter when no in-band
//! snapshot comes; a gap every line missed resubscribes the one instId on one line.

use tickwire_engine::Registry;
use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, ArbitrationError, FeedConfig, QueuedSnapshots,
    SnapshotSource,
};

use super::adapter::{Channel, OkxAdapter, OkxConfig, PlanError, Subscription};
use super::snapshot::OkxRestSnapshots;

/// Why an arbitrated OKX feed could not be built.
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

/// An OKX feed of `subs` (one connection's worth) over one line per entry of `lines` (each
/// its own `ws_url`; REST snapshots from line 0's `rest_base`, trusting `extra_roots`). Add
/// it with [`tickwire_engine::adapter::add_arbitrated_feed`].
pub fn arbitrated_feed(
    lines: &[OkxConfig],
    subs: &[Subscription],
    registry: &Registry,
    extra_roots: &[Vec<u8>],
    feed: FeedConfig,
    arbitration: ArbitrationConfig,
) -> Result<ArbitratedFeed<OkxAdapter>, ArbitratedFeedError> {
    let first = lines
        .first()
        .ok_or(ArbitratedFeedError::Arbitration(ArbitrationError::Config))?;
    let subs = OkxAdapter::new(first.clone(), subs, registry)?
        .subscriptions()
        .to_vec();
    let mut books: Vec<&str> = Vec::new();
    for s in &subs {
        if s.channel == Channel::Books && !books.contains(&s.inst_id.as_str()) {
            books.push(&s.inst_id);
        }
    }
    let rest = OkxRestSnapshots::spawn(first, registry, &books, extra_roots)
        .map_err(|e| ArbitratedFeedError::Snapshots(e.kind()))?;
    let mut arbiter_source: Option<Box<dyn SnapshotSource>> = Some(Box::new(rest));
    let (configs, registry) = (lines.to_vec(), registry.clone());
    let factory = move |line: usize| {
        let adapter = OkxAdapter::new(configs.get(line)?.clone(), &subs, &registry).ok()?;
        // The first build is the arbiter's: it gets the REST source; lines need none.
        let source = arbiter_source
            .take()
            .unwrap_or_else(|| Box::new(QueuedSnapshots::new()));
        Some((adapter, source))
    };
    Ok(ArbitratedFeed::new(
        Box::new(factory),
        lines.len(),
        feed,
        arbitration,
    )?)
}
