//! Settings of a Binance feed: market, endpoints (overridable for testnet, a proxy or the
//! simulator), time unit, latency probe, subscription mode, book depth.

/// Which Binance market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Market {
    /// Spot (`stream.binance.com`, REST `api.binance.com/api/v3/depth`).
    Spot,
    /// USD-M futures (`fstream.binance.com`, REST `fapi.binance.com/fapi/v1/depth`).
    UsdM,
}

impl Market {
    /// Venue name as printed and interned (`binance`, `binance-usdm`).
    pub const fn venue(self) -> &'static str {
        match self {
            Market::Spot => "binance",
            Market::UsdM => "binance-usdm",
        }
    }

    /// Parses a venue name.
    pub fn from_venue(name: &str) -> Option<Market> {
        match name {
            "binance" | "binance-spot" => Some(Market::Spot),
            "binance-usdm" | "binance-futures" => Some(Market::UsdM),
            _ => None,
        }
    }
}

/// Unit of the venue's timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Milliseconds (the default).
    Millisecond,
    /// Microseconds (`timeUnit=MICROSECOND` on the URL; spot only per the docs).
    Microsecond,
}

impl TimeUnit {
    /// Nanoseconds per unit.
    pub const fn ns(self) -> u64 {
        match self {
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
        }
    }
}

/// How the streams are requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubscribeVia {
    /// In the URL (`/stream?streams=a/b/c`): live at once, no request to acknowledge.
    Url,
    /// With paced `SUBSCRIBE` frames after connecting to `/stream` (acks tracked).
    Frames,
}

/// Settings of one Binance feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinanceConfig {
    /// Spot or USD-M.
    pub market: Market,
    /// WebSocket base URL (scheme, host, port; no path). `None`: the production host.
    pub ws_base: Option<String>,
    /// REST base URL for snapshots. `None`: the production host.
    pub rest_base: Option<String>,
    /// Timestamp unit to ask for.
    pub time_unit: TimeUnit,
    /// Take `exchange_ts` from a leading `"ts"` field in ns when present (the load server's
    /// latency probe) instead of `E`/`T`.
    pub latency_probe: bool,
    /// How streams are requested.
    pub subscribe_via: SubscribeVia,
    /// USD-M: use the routed `/public` and `/market` paths (production since 2026).
    pub usdm_routed: bool,
    /// Levels per side in a REST snapshot (spot ≤ 5000; USD-M one of 5..1000).
    pub snapshot_limit: u32,
    /// Levels per side kept by the validating book.
    pub book_depth: usize,
    /// Most streams per connection (≤ 1024).
    pub max_streams: usize,
    /// Most streams per SUBSCRIBE frame.
    pub streams_per_frame: usize,
    /// Minimum gap between frames we send, ns (spot allows 5 messages/s, pongs included).
    pub send_interval_ns: u64,
    /// Decode hot messages with the hand scanner first (falls back to simd-json on anything
    /// unusual; both agree wherever the scanner answers).
    pub fast_scan: bool,
    /// Keep each depth channel's book in sync: buffer diffs until a REST snapshot lines up,
    /// check every diff's update ids, keep a validating book. `false` publishes depth diffs
    /// as they arrive (levels flagged as usual, LAST_IN_BATCH on the last) with no snapshot,
    /// sequence check or book: only for raw diff streams without a snapshot endpoint, such
    /// as a load generator (`tickwire bench --url`).
    pub book_sync: bool,
    /// Processes on this IP spending the same REST weight (shards of one universe in
    /// processes of their own, [`crate::spread`]): this one keeps to its share of
    /// [`RestLimits::for_market`](crate::binance::snapshot::RestLimits::for_market). 1: alone.
    pub rest_processes: u32,
}

impl BinanceConfig {
    /// Spot defaults.
    pub fn spot() -> BinanceConfig {
        BinanceConfig {
            market: Market::Spot,
            ws_base: None,
            rest_base: None,
            time_unit: TimeUnit::Millisecond,
            latency_probe: false,
            subscribe_via: SubscribeVia::Url,
            usdm_routed: true,
            snapshot_limit: 5000,
            book_depth: 5000,
            max_streams: 1024,
            streams_per_frame: 200,
            send_interval_ns: 250_000_000,
            fast_scan: true,
            book_sync: true,
            rest_processes: 1,
        }
    }

    /// USD-M futures defaults (200 streams per connection, as older pages require).
    pub fn usdm() -> BinanceConfig {
        BinanceConfig {
            market: Market::UsdM,
            snapshot_limit: 1000,
            book_depth: 1000,
            max_streams: 200,
            send_interval_ns: 150_000_000,
            ..BinanceConfig::spot()
        }
    }

    /// Defaults for `market`.
    pub fn for_market(market: Market) -> BinanceConfig {
        match market {
            Market::Spot => BinanceConfig::spot(),
            Market::UsdM => BinanceConfig::usdm(),
        }
    }

    /// The WebSocket base in use.
    pub fn ws_base(&self) -> &str {
        match (&self.ws_base, self.market) {
            (Some(b), _) => b.trim_end_matches('/'),
            (None, Market::Spot) => "wss://stream.binance.com:9443",
            (None, Market::UsdM) => "wss://fstream.binance.com",
        }
    }

    /// The REST base in use.
    pub fn rest_base(&self) -> &str {
        match (&self.rest_base, self.market) {
            (Some(b), _) => b.trim_end_matches('/'),
            (None, Market::Spot) => "https://api.binance.com",
            (None, Market::UsdM) => "https://fapi.binance.com",
        }
    }

    /// The REST snapshot URL for `symbol`.
    pub fn snapshot_url(&self, symbol: &str) -> String {
        let path = match self.market {
            Market::Spot => "/api/v3/depth",
            Market::UsdM => "/fapi/v1/depth",
        };
        format!(
            "{}{path}?symbol={}&limit={}",
            self.rest_base(),
            symbol.to_ascii_uppercase(),
            self.snapshot_limit
        )
    }
}
