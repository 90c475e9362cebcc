//! Helpers shared by tickwire's integration tests: loopback WebSocket servers (plain and
//! TLS), a counting global allocator, test handlers and consumer helpers.

pub mod ab;
pub mod alloc;
pub mod book_model;
pub mod consume;
pub mod handlers;
pub mod model;
pub mod nats;
pub mod rest;
pub mod seen;
pub mod server;
pub mod tls;
pub mod tls_rest;
pub mod upgrade;

use std::time::Duration;

use tickwire_engine::config::{BackoffConfig, ConnectionOptions};

/// Connection options for tests: short timeouts and backoff, no client pings or stale limit
/// unless a test turns them on.
pub fn test_options() -> ConnectionOptions {
    ConnectionOptions {
        ping_interval: None,
        pong_timeout: Duration::from_secs(5),
        stale_after: None,
        connect_timeout: Duration::from_secs(5),
        close_timeout: Duration::from_millis(500),
        backoff: BackoffConfig {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(400),
            max_attempts: None,
        },
        ..ConnectionOptions::default()
    }
}
