//! From an adapter to an engine connection: URL, headers and heartbeat timings.

use std::time::Duration;

use super::{FeedAdapter, FeedHandler};
use crate::command::{CommandError, ConsumerId, EngineHandle};
use crate::config::{ConfigError, ConnectionConfig, ConnectionOptions};
use crate::handler::ConnectionId;

/// Why a feed could not be added to an engine.
#[derive(Debug, thiserror::Error)]
pub enum AddFeedError {
    /// The adapter's URL or headers are not usable.
    #[error("feed endpoint: {0}")]
    Config(#[from] ConfigError),
    /// The engine refused the command.
    #[error("engine: {0}")]
    Command(#[from] CommandError),
}

/// The connection configuration for `adapter`: its endpoint and headers, and its heartbeat
/// rules applied on top of `base`. Where the adapter states a client ping interval or a stale
/// limit, it wins; where it states none, the caller's `base` setting stays (so a caller can
/// add client pings to a venue that only pings from the server side). The pong timeout is the
/// longer of the two, so a venue's documented allowance is never cut short.
pub fn connection_config<A: FeedAdapter>(
    adapter: &A,
    base: ConnectionOptions,
) -> Result<ConnectionConfig, ConfigError> {
    let endpoint = adapter.endpoint();
    let heartbeat = adapter.heartbeat();
    let options = ConnectionOptions {
        ping_interval: heartbeat
            .client_ping_interval_ns
            .map(Duration::from_nanos)
            .or(base.ping_interval),
        pong_timeout: Duration::from_nanos(heartbeat.pong_timeout_ns).max(base.pong_timeout),
        stale_after: heartbeat
            .stale_after_ns
            .map(Duration::from_nanos)
            .or(base.stale_after),
        ..base
    };
    let mut config = ConnectionConfig::new(&endpoint.url)?.options(options);
    for (name, value) in &endpoint.headers {
        config = config.header(name, value);
    }
    Ok(config)
}

/// Adds `handler` to a running engine as one connection publishing to `consumers`.
/// `extra_roots` are trusted in addition to the webpki roots (DER; a simulator's certificate).
pub fn add_feed<A: FeedAdapter>(
    engine: &EngineHandle,
    handler: FeedHandler<A>,
    base: ConnectionOptions,
    extra_roots: &[Vec<u8>],
    consumers: &[ConsumerId],
) -> Result<ConnectionId, AddFeedError> {
    let mut config = connection_config(handler.adapter(), base)?;
    for der in extra_roots {
        config = config.trust_root_der(der);
    }
    Ok(engine.add_connection(config, Box::new(handler), consumers)?)
}
