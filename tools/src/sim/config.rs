//! Everything a simulator server can be told.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tickwire_feeds::binance::sim::{Market, Mix};
use tickwire_feeds::sim::{SessionDefaults, UnknownVenue, sim_entry};

use super::fault::ScheduledFault;

/// How to run a [`super::SimServer`]. `SimConfig::for_venue(name)` (or, for Binance,
/// `SimConfig::new(market)`) gives the venue's documented behaviour (ping cadence, pong
/// deadline, inbound limit) at 1000 events/s on BTCUSDT.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The simulated venue's registry name (`tickwire_feeds::sim::sim_venues`): decides
    /// paths, message shapes, chains and the control protocol.
    pub venue: String,
    /// Listen address (loopback by default).
    pub bind: IpAddr,
    /// TCP port; 0 picks a free one (see [`super::SimServer::local_addr`]).
    pub port: u16,
    /// Simulated symbols, any case.
    pub symbols: Vec<String>,
    /// Venue events per second over all symbols (0 = as fast as each connection can take).
    /// A client subscribed to every stream of every symbol receives about this many
    /// messages a second (a trade event yields two with both `trade` and `aggTrade`).
    /// A late sender catches up in a burst; nothing is dropped.
    pub rate: u64,
    /// Events become due in groups of this many (1 = evenly paced).
    pub burst: u64,
    /// Relative frequencies of book diffs, trades and top-of-book events.
    pub mix: Mix,
    /// Seed of the venue model.
    pub seed: u64,
    /// Steps per symbol tape (see `tickwire_feeds::sim::tape`).
    pub tape_len: usize,
    /// Serve `wss://` and `https://` with a fresh self-signed certificate.
    pub tls: bool,
    /// Start every data message with `"ts":<send time ns>` (latency probe).
    pub probe_ts: bool,
    /// Server ping period.
    pub ping_interval: Duration,
    /// A session whose oldest unanswered ping is older than this is dropped.
    pub pong_timeout: Duration,
    /// Sessions are closed (1000) after this long, like the venue's 24 h limit.
    pub lifetime: Option<Duration>,
    /// Client frames (text, ping, pong) allowed per second; more closes the session.
    pub inbound_limit: Option<u32>,
    /// Faults applied to every session on a schedule.
    pub faults: Vec<ScheduledFault>,
    /// Time between `serverShutdown` and the close that follows it.
    pub shutdown_grace: Duration,
    /// Bytes written per socket write at most when catching up.
    pub batch_bytes: usize,
    /// Largest client message accepted.
    pub max_client_message: usize,
    /// Accept a client's permessage-deflate offer and compress outgoing text messages.
    pub deflate: bool,
    /// The stream clock's origin on the wall clock (UNIX time, ns): event `n` is due at
    /// `origin + n / rate`. `None`: the server's start. Two simulators with the same seed,
    /// symbols, rate and origin serve the same ids at the same time (an A/B pair).
    pub clock_origin_ns: Option<u64>,
    /// Every message leaves this much later than the venue time it carries (event and
    /// probe timestamps): a slower network path, e.g. the slow line of an A/B pair.
    pub path_delay: Duration,
}

impl SimConfig {
    /// Binance spot or USD-M with the venue's documented defaults: spot pings every 20 s
    /// and drops after 60 s without a pong, 5 inbound messages/s; USD-M pings every 3 min,
    /// drops after 10 min, 10/s.
    pub fn new(market: Market) -> Self {
        let entry = match market {
            Market::Spot => tickwire_feeds::binance::sim::SPOT_SIM,
            Market::UsdM => tickwire_feeds::binance::sim::USDM_SIM,
        };
        Self::with_defaults(entry.name, entry.defaults)
    }

    /// The registered venue `name` (or an alias) with its documented defaults; an unknown
    /// name's error lists the known ones.
    pub fn for_venue(name: &str) -> Result<Self, UnknownVenue> {
        let entry = sim_entry(name)?;
        Ok(Self::with_defaults(entry.name, entry.defaults))
    }

    fn with_defaults(venue: &str, d: SessionDefaults) -> Self {
        SimConfig {
            venue: venue.to_string(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            symbols: vec!["BTCUSDT".to_string()],
            rate: 1000,
            burst: 1,
            mix: Mix::default(),
            seed: 1,
            tape_len: 4096,
            tls: false,
            probe_ts: false,
            ping_interval: d.ping_interval,
            pong_timeout: d.pong_timeout,
            lifetime: None,
            inbound_limit: d.inbound_limit,
            faults: Vec::new(),
            shutdown_grace: Duration::from_secs(1),
            batch_bytes: 64 * 1024,
            max_client_message: 64 * 1024,
            deflate: false,
            clock_origin_ns: None,
            path_delay: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venues_come_from_the_registry_with_their_documented_defaults() {
        assert_eq!(
            SimConfig::for_venue("usdm"),
            Ok(SimConfig::new(Market::UsdM))
        );
        assert_eq!(
            SimConfig::for_venue("binance"),
            Ok(SimConfig::new(Market::Spot))
        );
        // Binance's documented session rules (venues.md §1-2).
        let spot = SimConfig::new(Market::Spot);
        assert_eq!(
            (spot.ping_interval, spot.pong_timeout, spot.inbound_limit),
            (Duration::from_secs(20), Duration::from_secs(60), Some(5))
        );
        let usdm = SimConfig::new(Market::UsdM);
        assert_eq!(usdm.venue, "binance-usdm");
        assert_eq!(
            (usdm.ping_interval, usdm.pong_timeout, usdm.inbound_limit),
            (Duration::from_secs(180), Duration::from_secs(600), Some(10))
        );
        let e = SimConfig::for_venue("nasdaq").unwrap_err().to_string();
        assert!(
            e.contains("'nasdaq'") && e.contains("binance, binance-usdm"),
            "{e}"
        );
        let mut c = SimConfig::new(Market::Spot);
        c.venue = "nasdaq".into();
        let e = super::super::SimServer::start(c).err();
        assert_eq!(e, Some(super::super::SimError::UnknownVenue));
        assert!(
            e.is_some_and(|e| e.to_string().contains("binance, binance-usdm")),
            "the error lists the known venues"
        );
    }
}
