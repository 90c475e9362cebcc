//! Every venue tickwire knows, by name: the one registry the tools (`decode`, `replay`,
//! `run`, `record`, `bench`, `demo`, `sim`) look venues up in.
//!
//! A venue is a [`VenueKind`]: its names, a stateless decoder for `tickwire decode` and
//! replays, its simulator entry, and its launch hook ([`VenueKind::launch`], see
//! [`crate::launch`]) for `run`, `record`, `bench` and the demo. Adding a venue is one module implementing
//! [`VenueKind`] and one line in [`VENUES`] (see the repository's `docs/venue-plumbing.md`).

use tickwire_engine::adapter::{DecodeError, FeedConfig, FeedHandler, Frame, SnapshotSource};
use tickwire_engine::{Event, Registry};

use crate::launch::{FeedHandle, Launch, LaunchError, LaunchSpec};

use crate::binance::{self, Market};
use crate::bybit;
use crate::coinbase;
use crate::kraken;
use crate::okx;
use crate::sim::SimVenueEntry;

/// Decodes one venue message, as `FeedAdapter::decode`: events appended to `out` with
/// `recv_ts` as their receive time; on error `out` is left as it was.
pub trait VenueDecoder: Send {
    /// Decodes one message (parsed in place).
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError>;
}

/// How a stateless decoder reads messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Timestamps are microseconds (Binance's `timeUnit=MICROSECOND`).
    pub micros: bool,
    /// Take `exchange_ts` from a leading `"ts"` field in ns (the load server's probe).
    pub probe: bool,
}

/// A venue: its names, its decoder, its simulator.
pub trait VenueKind: Sync {
    /// The name events carry and `--venue` takes, e.g. `binance-usdm`.
    fn name(&self) -> &'static str;
    /// Other names `--venue` accepts.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// A decoder that interns every symbol it meets in `registry` (under [`Self::name`]).
    fn decoder(&self, registry: &Registry, options: DecodeOptions) -> Box<dyn VenueDecoder>;
    /// The venue's simulator entry, if `tickwire sim` serves it.
    fn sim(&self) -> Option<&'static SimVenueEntry> {
        None
    }
    /// The launch hook: checks `spec`, plans the venue's connections (symbols interned in
    /// `registry`, no I/O) and answers the plan that `run`, `record`, `bench` and the demo
    /// start. A venue implements it by returning its own [`Launch`] (see [`crate::launch`]
    /// for the steps); the default answers [`LaunchError::Unsupported`].
    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        let _ = (spec, registry);
        Err(LaunchError::Unsupported(self.name()))
    }
    /// A feed handler for replaying a journal this venue recorded: `streams` as the journal
    /// names them (each connection's
    /// [`PlannedConnection::streams`](crate::launch::PlannedConnection)), book snapshots from
    /// `snapshots` (what the journal recorded), symbols interned in `registry`. One handler
    /// may carry what several live connections did. The default answers
    /// [`LaunchError::Unsupported`].
    fn replay_feed(
        &self,
        streams: &[String],
        registry: &Registry,
        snapshots: Box<dyn SnapshotSource>,
    ) -> Result<Box<dyn FeedHandle>, LaunchError> {
        let _ = (streams, registry, snapshots);
        Err(LaunchError::Unsupported(self.name()))
    }
    /// The Binance market, for the Binance-only parts (the journal replay's REST snapshots);
    /// `None` elsewhere.
    fn binance_market(&self) -> Option<Market> {
        None
    }
}

/// Every venue. Adding a venue is one line here.
pub static VENUES: &[&dyn VenueKind] = &[
    &BinanceVenue(Market::Spot),
    &BinanceVenue(Market::UsdM),
    &BybitVenue(bybit::Market::Spot),
    &BybitVenue(bybit::Market::Linear),
    &OkxVenue,
    &KrakenVenue,
    &CoinbaseVenue,
];

/// No venue has the name asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue '{name}' (known: {known})")]
pub struct UnknownVenueName {
    /// The name asked for.
    pub name: String,
    /// The known names, comma-separated.
    pub known: String,
}

/// The known venue names, comma-separated.
pub fn known_names() -> String {
    VENUES
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The venue named `name` (exactly, or one of its aliases).
pub fn find(name: &str) -> Result<&'static dyn VenueKind, UnknownVenueName> {
    VENUES
        .iter()
        .copied()
        .find(|v| v.name() == name || v.aliases().contains(&name))
        .ok_or_else(|| UnknownVenueName {
            name: name.to_string(),
            known: known_names(),
        })
}

/// Binance spot or USD-M futures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinanceVenue(pub Market);

impl VenueDecoder for binance::Decoder {
    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        binance::Decoder::decode(self, payload, recv_ts, out)
    }
}

impl VenueKind for BinanceVenue {
    fn name(&self) -> &'static str {
        self.0.venue()
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self.0 {
            Market::Spot => &["binance-spot"],
            Market::UsdM => &["binance-futures"],
        }
    }

    fn decoder(&self, registry: &Registry, options: DecodeOptions) -> Box<dyn VenueDecoder> {
        let unit = if options.micros {
            binance::TimeUnit::Microsecond
        } else {
            binance::TimeUnit::Millisecond
        };
        Box::new(binance::Decoder::new(
            binance::Symbols::interning(self.0.venue(), registry.clone()),
            unit,
            options.probe,
        ))
    }

    fn sim(&self) -> Option<&'static SimVenueEntry> {
        Some(match self.0 {
            Market::Spot => &binance::sim::SPOT_SIM,
            Market::UsdM => &binance::sim::USDM_SIM,
        })
    }

    fn binance_market(&self) -> Option<Market> {
        Some(self.0)
    }

    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        Ok(Box::new(crate::launch::binance::BinanceLaunch::plan(
            self.0, spec, registry,
        )?))
    }

    fn replay_feed(
        &self,
        streams: &[String],
        registry: &Registry,
        snapshots: Box<dyn SnapshotSource>,
    ) -> Result<Box<dyn FeedHandle>, LaunchError> {
        let subs = streams
            .iter()
            .map(|s| {
                binance::Subscription::from_stream(s)
                    .ok_or_else(|| LaunchError::Usage(format!("unknown stream name '{s}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = binance::BinanceConfig::for_market(self.0);
        // One replayed connection may carry what several live ones did.
        config.usdm_routed = false;
        config.max_streams = binance::MAX_STREAMS_PER_CONNECTION;
        let adapter = binance::BinanceAdapter::new(config, &subs, registry)
            .map_err(|e| LaunchError::Usage(format!("adapter: {e}")))?;
        Ok(Box::new(FeedHandler::new(
            adapter,
            snapshots,
            FeedConfig::default(),
        )))
    }
}

/// Bybit v5 public spot (`bybit`) or linear (`bybit-linear`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BybitVenue(pub bybit::Market);

impl VenueDecoder for bybit::Decoder {
    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        bybit::Decoder::decode(self, payload, recv_ts, out)
    }
}

impl VenueKind for BybitVenue {
    fn name(&self) -> &'static str {
        self.0.venue()
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self.0 {
            bybit::Market::Spot => &["bybit-spot"],
            bybit::Market::Linear => &[],
        }
    }

    /// Bybit times are milliseconds (`micros` does not apply); no latency probe.
    fn decoder(&self, registry: &Registry, _options: DecodeOptions) -> Box<dyn VenueDecoder> {
        Box::new(bybit::Decoder::new(
            binance::Symbols::interning(self.0.venue(), registry.clone()),
            self.0,
        ))
    }

    fn sim(&self) -> Option<&'static SimVenueEntry> {
        Some(match self.0 {
            bybit::Market::Spot => &bybit::sim::SPOT_SIM,
            bybit::Market::Linear => &bybit::sim::LINEAR_SIM,
        })
    }

    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        Ok(Box::new(crate::launch::bybit::BybitLaunch::plan(
            self.0, spec, registry,
        )?))
    }

    fn replay_feed(
        &self,
        streams: &[String],
        registry: &Registry,
        snapshots: Box<dyn SnapshotSource>,
    ) -> Result<Box<dyn FeedHandle>, LaunchError> {
        let subs = streams
            .iter()
            .map(|s| {
                bybit::Subscription::from_topic(self.0, s)
                    .ok_or_else(|| LaunchError::Usage(format!("unknown topic '{s}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = bybit::BybitConfig::for_market(self.0);
        // One replayed connection may carry what several live ones did.
        config.max_topics = usize::MAX;
        config.max_args_chars = usize::MAX;
        let adapter = bybit::BybitAdapter::new(config, &subs, registry)
            .map_err(|e| LaunchError::Usage(format!("adapter: {e}")))?;
        Ok(Box::new(FeedHandler::new(
            adapter,
            snapshots,
            FeedConfig::default(),
        )))
    }
}

/// OKX v5 public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OkxVenue;

impl VenueDecoder for okx::Decoder {
    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        okx::Decoder::decode(self, payload, recv_ts, out)
    }
}

impl VenueKind for OkxVenue {
    fn name(&self) -> &'static str {
        okx::VENUE
    }

    fn decoder(&self, registry: &Registry, _options: DecodeOptions) -> Box<dyn VenueDecoder> {
        Box::new(okx::Decoder::new(binance::Symbols::interning(
            okx::VENUE,
            registry.clone(),
        )))
    }

    fn sim(&self) -> Option<&'static SimVenueEntry> {
        Some(&okx::sim::OKX_SIM)
    }

    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        Ok(Box::new(crate::launch::okx::OkxLaunch::plan(
            spec, registry,
        )?))
    }

    fn replay_feed(
        &self,
        streams: &[String],
        registry: &Registry,
        snapshots: Box<dyn SnapshotSource>,
    ) -> Result<Box<dyn FeedHandle>, LaunchError> {
        let subs = streams
            .iter()
            .map(|s| {
                okx::Subscription::from_topic(s)
                    .ok_or_else(|| LaunchError::Usage(format!("unknown topic '{s}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let adapter = okx::OkxAdapter::new(okx::OkxConfig::default(), &subs, registry)
            .map_err(|e| LaunchError::Usage(format!("adapter: {e}")))?;
        Ok(Box::new(FeedHandler::new(
            adapter,
            snapshots,
            FeedConfig::default(),
        )))
    }
}

// ---- Kraken v2 ----

/// Kraken spot WebSocket v2 public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KrakenVenue;

impl VenueDecoder for kraken::Decoder {
    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        kraken::Decoder::decode(self, payload, recv_ts, out)
    }
}

impl VenueKind for KrakenVenue {
    fn name(&self) -> &'static str {
        kraken::VENUE
    }

    /// Kraken times are RFC 3339 strings (`micros` does not apply); no latency probe.
    fn decoder(&self, registry: &Registry, _options: DecodeOptions) -> Box<dyn VenueDecoder> {
        Box::new(kraken::Decoder::new(binance::Symbols::interning(
            kraken::VENUE,
            registry.clone(),
        )))
    }

    fn sim(&self) -> Option<&'static SimVenueEntry> {
        Some(&kraken::sim::KRAKEN_SIM)
    }

    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        Ok(Box::new(kraken::launch::KrakenLaunch::plan(
            spec, registry,
        )?))
    }
}

// ---- Coinbase Advanced Trade ----

/// Coinbase Advanced Trade public market data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoinbaseVenue;

impl VenueDecoder for coinbase::Decoder {
    #[inline]
    fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        coinbase::Decoder::decode(self, payload, recv_ts, out)
    }
}

impl VenueKind for CoinbaseVenue {
    fn name(&self) -> &'static str {
        coinbase::VENUE
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["coinbase-advanced"]
    }

    /// Coinbase times are RFC 3339 texts (`micros` does not apply); no latency probe.
    /// Trade sides are read as the maker's (see [`coinbase::TradeSide`]).
    fn decoder(&self, registry: &Registry, _options: DecodeOptions) -> Box<dyn VenueDecoder> {
        Box::new(coinbase::Decoder::new(
            binance::Symbols::interning(coinbase::VENUE, registry.clone()),
            coinbase::TradeSide::Maker,
        ))
    }

    fn sim(&self) -> Option<&'static SimVenueEntry> {
        Some(&coinbase::sim::COINBASE_SIM)
    }

    fn launch(
        &self,
        spec: &LaunchSpec,
        registry: &Registry,
    ) -> Result<Box<dyn Launch>, LaunchError> {
        Ok(Box::new(crate::launch::coinbase::CoinbaseLaunch::plan(
            spec, registry,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_unknown_names_list_the_known() {
        assert_eq!(find("binance").map(|v| v.name()), Ok("binance"));
        assert_eq!(
            find("binance-futures").map(|v| v.name()),
            Ok("binance-usdm")
        );
        assert_eq!(
            find("binance-usdm").map(|v| v.binance_market()),
            Ok(Some(Market::UsdM))
        );
        assert_eq!(find("kraken").map(|v| v.name()), Ok("kraken"));
        let Err(e) = find("kraken-futures") else {
            panic!("kraken-futures is not a venue")
        };
        let e = e.to_string();
        assert!(e.contains("unknown venue 'kraken-futures'"), "{e}");
        assert!(e.contains("binance, binance-usdm"), "{e}");
        // Every venue with a simulator is reachable from the simulator registry too.
        for v in VENUES {
            if let Some(s) = v.sim() {
                assert!(crate::sim::sim_entry(s.name).is_ok(), "{}", s.name);
            }
        }
    }

    #[test]
    fn the_boxed_decoder_interns_unknown_symbols() {
        let registry = Registry::new();
        let Ok(venue) = find("binance") else {
            panic!("binance is a venue")
        };
        let mut d = venue.decoder(&registry, DecodeOptions::default());
        let mut msg =
            br#"{"e":"trade","E":1,"s":"OPUSDT","t":7,"p":"1.5","q":"2","T":1,"m":true,"M":true}"#
                .to_vec();
        let mut out = Vec::new();
        assert!(matches!(d.decode(&mut msg, 5, &mut out), Ok(Frame::Market)));
        assert_eq!(out.len(), 1);
        assert_eq!(
            Some(out[0].instrument),
            registry.lookup("binance", "OPUSDT")
        );
    }
}
