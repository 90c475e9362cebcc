//! OKX's REST start (venues.md §12): `GET /api/v5/market/books?instId=..&sz=400` through the
//! venue-neutral shared scheduler ([`crate::rest`]: one thread per REST base, the request
//! budget, merged requests, `Retry-After` on 429).
//!
//! The budget: the brief gives 40 requests per 2 s per IP for `market/books`; the secondary
//! copies of OKX's docs reachable here (a rate-limit summary, connector docs) say 20 per 2 s
//! for public market data, books included. The default takes the lower, less a tenth kept
//! free for other users of the IP: 18 per 2 s ([`okx_limits`]); pass other
//! [`RestLimits`] to [`OkxRestSnapshots::spawn_with_limits`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::{InstrumentId, Registry};

use super::adapter::{OkxConfig, VENUE};
use super::decode::parse_books_snapshot;
use crate::rest::{RestClient, RestLimits, RestVenue};

/// OKX's REST pacing: 18 `market/books` requests per 2 s (see the module docs), 10 s per
/// request, 2 s after a 429 without `Retry-After`.
pub const fn okx_limits() -> RestLimits {
    RestLimits {
        weight_per_minute: 18,
        window: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        default_rate_limit_wait: Duration::from_secs(2),
        default_ban_wait: Duration::from_secs(120),
        processes: 1,
    }
}

fn rest_venue() -> RestVenue {
    RestVenue {
        key: VENUE.into(),
        parse: Arc::new(|body: &mut [u8], instrument| {
            parse_books_snapshot(body, instrument).map_err(|_| SnapshotError::Malformed)
        }),
        used_weight_header: None,
    }
}

/// OKX book snapshots over REST, on the venue's shared scheduler.
pub struct OkxRestSnapshots {
    client: RestClient,
    urls: HashMap<InstrumentId, String>,
    config: OkxConfig,
    registry: Registry,
}

impl OkxRestSnapshots {
    /// A source for `inst_ids` (interned in `registry`) with [`okx_limits`] (its share of
    /// them with [`OkxConfig::rest_processes`]).
    pub fn spawn(
        config: &OkxConfig,
        registry: &Registry,
        inst_ids: &[&str],
        roots: &[Vec<u8>],
    ) -> std::io::Result<OkxRestSnapshots> {
        let limits = okx_limits().shared_by(config.rest_processes);
        OkxRestSnapshots::spawn_with_limits(config, registry, inst_ids, roots, limits)
    }

    /// As [`OkxRestSnapshots::spawn`] with the scheduler's pacing given (used when this call
    /// starts the scheduler; a running one keeps its own).
    pub fn spawn_with_limits(
        config: &OkxConfig,
        registry: &Registry,
        inst_ids: &[&str],
        roots: &[Vec<u8>],
        limits: RestLimits,
    ) -> std::io::Result<OkxRestSnapshots> {
        let urls = inst_ids
            .iter()
            .map(|s| {
                let s = s.to_ascii_uppercase();
                (registry.intern(VENUE, &s), config.snapshot_url(&s))
            })
            .collect();
        let client = RestClient::spawn(&config.rest_base, rest_venue(), roots, limits)?;
        Ok(OkxRestSnapshots {
            client,
            urls,
            config: config.clone(),
            registry: registry.clone(),
        })
    }

    fn url(&mut self, instrument: InstrumentId) -> Option<&String> {
        if !self.urls.contains_key(&instrument) {
            let name = self.registry.name(instrument)?;
            if *name.venue != *VENUE {
                return None;
            }
            let url = self.config.snapshot_url(&name.symbol);
            self.urls.insert(instrument, url);
        }
        self.urls.get(&instrument)
    }
}

impl SnapshotSource for OkxRestSnapshots {
    fn track(&mut self, instrument: InstrumentId) {
        let _ = self.url(instrument);
    }

    fn request(&mut self, instrument: InstrumentId) {
        match self.url(instrument).cloned() {
            Some(url) => self.client.ask(instrument, &url, 1),
            None => self.client.fail(instrument, SnapshotError::Request),
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        self.client.poll()
    }
}
