//! What a simulator knows about Binance spot and USD-M market data, on the venue-neutral
//! core of [`crate::sim`] (tapes, book model, event clock): the venue's formats and
//! update-id chains, the exact wire shapes of its messages and REST snapshot, the client's
//! control protocol (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, properties) and the
//! faults that live in message content (a gap in the update ids, malformed JSON). [`Feed`]
//! is its [`crate::sim::SimFeed`], [`BinanceSim`] its [`crate::sim::SimVenue`].
//!
//! Nothing here touches a socket or reads a clock: the server (`tickwire sim`, in the tools
//! crate) passes the time in and frames the bytes. Given the same seed the venue is the same.
//!
//! # The venue clock
//!
//! The venue publishes one global sequence of *events*. Event `n` belongs to symbol
//! `n % symbols` and is that symbol's step `n / symbols`; a step is a book diff, a trade or a
//! top-of-book publication, drawn by the configured [`Mix`]. Every connection walks the same
//! sequence and sends the events its subscriptions select, so a REST snapshot taken "at event
//! `n`" ([`Venue::render_snapshot`]) lines up with every stream: its `lastUpdateId` is the `u`
//! of the symbol's last diff before event `n`.
//!
//! Each symbol's steps come from a [`tape::Tape`], a palindromic cycle rendered once at
//! start-up, so sending costs a copy and a few integer formats (see `tape`).

mod control;
mod feed;
mod render;
mod stream;
mod subscriptions;
mod venue;

use std::sync::Arc;

pub use crate::sim::tape;
pub use crate::sim::{
    Book, BookSide, ControlOutcome, Level, Mix, Rng, SymbolSpec, VenueError, push_fixed, push_u64,
};
pub use control::handle_control;
pub use feed::{Feed, FeedOptions, TimeUnit};
pub use render::{render_error, render_server_shutdown};
pub use stream::{Route, StreamError, StreamKind, parse_stream};
pub use subscriptions::Subscriptions;
pub use venue::{BinanceSim, SPOT_SIM, USDM_SIM};

use crate::sim::tape::{IdRule, Tape};
use crate::sim::{Model, SimVenueConfig, pow10};

/// Which Binance market is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Market {
    /// Spot (`stream.binance.com`, `api.binance.com`): `U == prev u + 1` chains.
    Spot,
    /// USD-M futures (`fstream.binance.com`, `fapi.binance.com`): `pu == prev u` chains.
    UsdM,
}

impl SymbolSpec {
    /// Realistic formats for a symbol on `market`: a few well-known symbols get their usual
    /// price and tick; any other name gets a price derived from the name. Names are 2 to 20
    /// ASCII letters or digits, in any case.
    pub fn for_market(market: Market, name: &str) -> Result<SymbolSpec, VenueError> {
        if !(2..=20).contains(&name.len()) || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VenueError::BadSymbol);
        }
        let upper = name.to_ascii_uppercase();
        // (name, start price and tick in 1e-8, USD-M price decimals, USD-M tick in those)
        let known: &[(&str, u64, u64, u8, u64)] = &[
            ("BTCUSDT", 6_183_763_000_000, 1_000_000, 2, 10),
            ("ETHUSDT", 265_041_000_000, 1_000_000, 2, 1),
            ("BNBUSDT", 51_230_000_000, 1_000_000, 2, 1),
            ("SOLUSDT", 14_257_000_000, 1_000_000, 2, 1),
            ("XRPUSDT", 56_120_000, 10_000, 4, 1),
        ];
        let (start_e8, tick_e8, fut_dec, fut_tick) = match known.iter().find(|k| k.0 == upper) {
            Some(&(_, p, t, d, ft)) => (p, t, d, ft),
            None => {
                let h = upper.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                });
                (100_000_000 * (1 + h % 1000), 1_000_000, 2, 1)
            }
        };
        Ok(match market {
            Market::Spot => SymbolSpec {
                name: upper,
                price_decimals: 8,
                tick: tick_e8,
                qty_decimals: 8,
                lot: if start_e8 > 1_000_000_000_000 {
                    1_000
                } else {
                    100_000
                },
                start_price: start_e8,
            },
            Market::UsdM => SymbolSpec {
                name: upper,
                price_decimals: fut_dec,
                tick: fut_tick,
                qty_decimals: 3,
                lot: 1,
                start_price: start_e8 / pow10(8 - fut_dec),
            },
        })
    }
}

/// How to build a [`Venue`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueConfig {
    /// Spot or USD-M.
    pub market: Market,
    /// Symbols, in any case (e.g. `["btcusdt", "ETHUSDT"]`).
    pub symbols: Vec<String>,
    /// Event mix.
    pub mix: Mix,
    /// Seed of every random choice.
    pub seed: u64,
    /// Steps per symbol tape (even, >= 64). Memory is about 200 bytes a step per symbol.
    pub tape_len: usize,
}

impl VenueConfig {
    /// BTCUSDT alone, default mix, seed 1, 4096-step tapes.
    pub fn new(market: Market) -> Self {
        VenueConfig {
            market,
            symbols: vec!["BTCUSDT".to_string()],
            mix: Mix::default(),
            seed: 1,
            tape_len: 4096,
        }
    }
}

/// How a market numbers its book updates: spot's `U == prev u + 1` chains consume one to
/// eight ids a diff; USD-M shares an id space across symbols, so ids are skipped (`pu`).
fn id_rule(market: Market) -> IdRule {
    match market {
        Market::Spot => IdRule {
            base: 50_000_000_000,
            base_spread: 1_000_000_000,
            skip: None,
            span: (1, 8),
        },
        Market::UsdM => IdRule {
            base: 5_000_000_000_000,
            base_spread: 100_000_000_000,
            skip: Some((0, 120)),
            span: (1, 40),
        },
    }
}

/// The simulated venue: the venue-neutral [`Model`] (one tape per symbol) with Binance's
/// formats and ids. Immutable once built; share it with `Arc`.
#[derive(Debug)]
pub struct Venue {
    market: Market,
    model: Model,
}

impl Venue {
    /// Builds every symbol's tape (a few ms per symbol).
    pub fn new(config: &VenueConfig) -> Result<Arc<Venue>, VenueError> {
        let common = SimVenueConfig {
            symbols: config.symbols.clone(),
            mix: config.mix,
            seed: config.seed,
            tape_len: config.tape_len,
        };
        let model = Model::build(
            &common,
            |name| SymbolSpec::for_market(config.market, name),
            id_rule(config.market),
            &render::BinanceText,
        )?;
        Ok(Arc::new(Venue {
            market: config.market,
            model,
        }))
    }

    /// The venue-neutral model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Spot or USD-M.
    pub fn market(&self) -> Market {
        self.market
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.model.symbol_count()
    }

    /// A symbol's formats.
    pub fn spec(&self, sym: usize) -> &SymbolSpec {
        self.model.spec(sym)
    }

    /// A symbol's tape.
    pub fn tape(&self, sym: usize) -> &Tape {
        self.model.tape(sym)
    }

    /// Lower-case symbol names, as in stream names.
    pub fn lower_names(&self) -> &[String] {
        self.model.lower_names()
    }

    /// The index of a symbol by name, in any case.
    pub fn symbol_index(&self, name: &str) -> Option<usize> {
        self.model.symbol_index(name)
    }

    /// The symbol and step of global event `event`.
    pub fn locate(&self, event: u64) -> (usize, u64) {
        self.model.locate(event)
    }

    /// Steps of `sym` among the events before `event`.
    pub fn steps_before(&self, sym: usize, event: u64) -> u64 {
        self.model.steps_before(sym, event)
    }

    /// The symbol's book once every event before `event` has happened.
    pub fn book_at(&self, sym: usize, event: u64) -> Book {
        self.model.book_at(sym, event)
    }

    /// The symbol's last update id once every event before `event` has happened.
    pub fn update_id_at(&self, sym: usize, event: u64) -> u64 {
        self.model.update_id_at(sym, event)
    }

    /// Appends the REST depth snapshot (`/api/v3/depth` or `/fapi/v1/depth` body) of `sym`
    /// as it stands before `event`, at most `limit` levels per side. `time_ms` fills the
    /// USD-M `E` and `T` fields.
    pub fn render_snapshot(
        &self,
        sym: usize,
        event: u64,
        limit: usize,
        time_ms: u64,
        out: &mut Vec<u8>,
    ) {
        let book = self.book_at(sym, event);
        let spec = self.spec(sym);
        out.extend_from_slice(b"{\"lastUpdateId\":");
        push_u64(out, self.update_id_at(sym, event));
        if self.market == Market::UsdM {
            out.extend_from_slice(b",\"E\":");
            push_u64(out, time_ms);
            out.extend_from_slice(b",\"T\":");
            push_u64(out, time_ms);
        }
        for (side, key) in [
            (BookSide::Bid, &b",\"bids\":["[..]),
            (BookSide::Ask, b"],\"asks\":["),
        ] {
            out.extend_from_slice(key);
            for (i, level) in book.levels(side).take(limit).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                render::push_level(out, spec, level);
            }
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests;
