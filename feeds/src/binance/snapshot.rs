//! REST depth snapshots for Binance, on the venue-neutral shared scheduler
//! ([`crate::rest`]): one thread per REST endpoint, never on the I/O thread.
//!
//! [`RestSnapshots`] implements [`SnapshotSource`] for one feed. Every feed of a process
//! that fetches from the same REST base (same market, trust roots and time unit) shares one
//! scheduler thread and one HTTP agent: 200 feeds cost one thread, not 200. The scheduler
//!
//! * fetches `GET /api/v3/depth` (spot) or `/fapi/v1/depth` (USD-M) one request at a time,
//!   parses it with [`parse_depth_snapshot`] and hands the result to every feed that asked;
//! * merges requests for the same URL that are still queued (a reconnect of many feeds on
//!   one symbol costs one request);
//! * keeps within the venue's request-weight budget ([`RestLimits`]: Binance counts a depth
//!   request by its `limit`; it also reads the venue's own count, `X-MBX-USED-WEIGHT-1M`);
//! * on 429 (rate limit), 418 (IP ban) and 503 with `Retry-After`, stops every request for
//!   that long and answers every waiting and new request with
//!   [`SnapshotError::RateLimited`] until then, so each feed reports it and backs off;
//! * ends when the last feed using it is dropped (after the request in flight, which
//!   [`RestLimits::request_timeout`] bounds); dropping a feed never waits for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::{InstrumentId, Registry};

use crate::rest::{RestClient, RestVenue};
pub use crate::rest::{RestLimits, scheduler_threads};

use super::config::{BinanceConfig, Market, TimeUnit};
use super::decode::parse_depth_snapshot;

/// Request weight of one depth snapshot of `limit` levels (Binance docs: spot
/// `GET /api/v3/depth` 1–100: 5, 101–500: 25, 501–1000: 50, 1001–5000: 250; USD-M
/// `GET /fapi/v1/depth` 5–50: 2, 100: 5, 500: 10, 1000: 20).
pub const fn depth_weight(market: Market, limit: u32) -> u32 {
    match market {
        Market::Spot => match limit {
            0..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        },
        Market::UsdM => match limit {
            0..=50 => 2,
            51..=100 => 5,
            101..=500 => 10,
            _ => 20,
        },
    }
}

impl RestLimits {
    /// Binance defaults for `market`: the `REQUEST_WEIGHT` limit per IP and minute (6000
    /// spot, 2400 USD-M) less a tenth kept free for other users of the IP.
    pub const fn for_market(market: Market) -> RestLimits {
        RestLimits {
            weight_per_minute: match market {
                Market::Spot => 5400,
                Market::UsdM => 2160,
            },
            window: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            default_rate_limit_wait: Duration::from_secs(10),
            default_ban_wait: Duration::from_secs(120),
            processes: 1,
        }
    }
}

/// The scheduler's view of a Binance market: its reader and its weight header.
fn rest_venue(market: Market, time_unit: TimeUnit) -> RestVenue {
    RestVenue {
        key: format!("binance:{market:?}:{time_unit:?}"),
        parse: Arc::new(move |body: &mut [u8], instrument| {
            parse_depth_snapshot(body, instrument, time_unit).map_err(|_| SnapshotError::Malformed)
        }),
        used_weight_header: Some("x-mbx-used-weight-1m"),
    }
}

/// Snapshots fetched over REST by the venue's shared scheduler (see the module docs).
pub struct RestSnapshots {
    client: RestClient,
    urls: HashMap<InstrumentId, String>,
    /// Where URLs of books subscribed at run time come from (their registry names).
    config: BinanceConfig,
    registry: Registry,
    weight: u32,
}

impl RestSnapshots {
    /// A source for the instruments of `symbols` (upper case) on `config`'s market, interned
    /// in `registry`, on the venue's shared scheduler (started if none runs).
    pub fn spawn(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
    ) -> std::io::Result<RestSnapshots> {
        RestSnapshots::spawn_with_roots(config, registry, symbols, &[])
    }

    /// As [`RestSnapshots::spawn`], trusting `roots` (DER certificates, e.g. a simulator's
    /// self-signed one) for HTTPS. With roots given, exactly those are trusted; with none, the
    /// webpki roots are.
    pub fn spawn_with_roots(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
    ) -> std::io::Result<RestSnapshots> {
        let limits = RestLimits::for_market(config.market).shared_by(config.rest_processes);
        RestSnapshots::spawn_with_limits(config, registry, symbols, roots, limits)
    }

    /// As [`RestSnapshots::spawn_with_roots`] with the scheduler's pacing given. The limits
    /// apply when this call starts the scheduler; a running one keeps its own.
    pub fn spawn_with_limits(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
        limits: RestLimits,
    ) -> std::io::Result<RestSnapshots> {
        let venue = config.market.venue();
        let urls: HashMap<InstrumentId, String> = symbols
            .iter()
            .map(|s| {
                let s = s.to_ascii_uppercase();
                (registry.intern(venue, &s), config.snapshot_url(&s))
            })
            .collect();
        let client = RestClient::spawn(
            config.rest_base(),
            rest_venue(config.market, config.time_unit),
            roots,
            limits,
        )?;
        Ok(RestSnapshots {
            client,
            urls,
            config: config.clone(),
            registry: registry.clone(),
            weight: depth_weight(config.market, config.snapshot_limit),
        })
    }

    /// The snapshot URL of `instrument`: known from the start, or (a book subscribed at run
    /// time) made from its registry name when that is of this market's venue.
    fn url(&mut self, instrument: InstrumentId) -> Option<&String> {
        if !self.urls.contains_key(&instrument) {
            let name = self.registry.name(instrument)?;
            if *name.venue != *self.config.market.venue() {
                return None;
            }
            let url = self.config.snapshot_url(&name.symbol);
            self.urls.insert(instrument, url);
        }
        self.urls.get(&instrument)
    }
}

impl SnapshotSource for RestSnapshots {
    fn track(&mut self, instrument: InstrumentId) {
        let _ = self.url(instrument);
    }

    fn request(&mut self, instrument: InstrumentId) {
        let weight = self.weight;
        match self.url(instrument).cloned() {
            Some(url) => self.client.ask(instrument, &url, weight),
            None => self.client.fail(instrument, SnapshotError::Request),
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        self.client.poll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_weights_follow_the_documented_tables() {
        // Binance spot GET /api/v3/depth and USD-M GET /fapi/v1/depth weight tables.
        let spot = [
            (5, 5),
            (100, 5),
            (101, 25),
            (500, 25),
            (1000, 50),
            (5000, 250),
        ];
        for (limit, w) in spot {
            assert_eq!(depth_weight(Market::Spot, limit), w, "spot limit {limit}");
        }
        let usdm = [(5, 2), (50, 2), (100, 5), (500, 10), (1000, 20)];
        for (limit, w) in usdm {
            assert_eq!(depth_weight(Market::UsdM, limit), w, "usdm limit {limit}");
        }
    }
}
