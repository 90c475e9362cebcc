//! What a simulator knows about Binance spot and USD-M market data: a deterministic venue
//! model (per symbol an L2 book that walks randomly, with the venue's update-id chains, trades
//! and top-of-book), the exact wire shapes of its messages and REST snapshot, the client's
//! control protocol (`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, properties) and the
//! faults that live in message content (a gap in the update ids, malformed JSON).
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

mod book;
mod control;
mod feed;
mod fixed;
mod render;
mod rng;
mod stream;
mod subscriptions;
pub mod tape;

use std::sync::Arc;

pub use book::{Book, BookSide, Level};
pub use control::{ControlOutcome, handle_control};
pub use feed::{Feed, FeedOptions, TimeUnit};
pub use fixed::{push_fixed, push_u64};
pub use render::{render_error, render_server_shutdown};
pub use rng::Rng;
pub use stream::{Route, StreamError, StreamKind, parse_stream};
pub use subscriptions::Subscriptions;
use tape::{StepKind, Tape};

/// Which Binance market is simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Market {
    /// Spot (`stream.binance.com`, `api.binance.com`): `U == prev u + 1` chains.
    Spot,
    /// USD-M futures (`fstream.binance.com`, `fapi.binance.com`): `pu == prev u` chains.
    UsdM,
}

/// The relative frequencies of the three kinds of venue event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Book diffs (`depthUpdate`).
    pub depth: u32,
    /// Trades (`trade`, `aggTrade`).
    pub trade: u32,
    /// Top-of-book publications (`bookTicker`).
    pub ticker: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            depth: 50,
            trade: 20,
            ticker: 30,
        }
    }
}

impl Mix {
    /// Draws a kind with these weights (all-zero weights mean depth only).
    fn pick(&self, rng: &mut Rng) -> StepKind {
        let total = u64::from(self.depth) + u64::from(self.trade) + u64::from(self.ticker);
        if total == 0 {
            return StepKind::Depth;
        }
        let r = rng.below(total);
        if r < u64::from(self.depth) {
            StepKind::Depth
        } else if r < u64::from(self.depth) + u64::from(self.trade) {
            StepKind::Trade
        } else {
            StepKind::Ticker
        }
    }
}

/// A symbol's number formats and starting price. Prices and quantities are integers in
/// units of `10^-price_decimals` and `10^-qty_decimals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Upper-case name as in the `s` field, e.g. `BTCUSDT`.
    pub name: String,
    /// Fraction digits of rendered prices (spot renders 8, USD-M the tick's precision).
    pub price_decimals: u8,
    /// Price tick in price units.
    pub tick: u64,
    /// Fraction digits of rendered quantities.
    pub qty_decimals: u8,
    /// Quantity step in quantity units.
    pub lot: u64,
    /// Mid price at the start, in price units.
    pub start_price: u64,
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
                start_price: start_e8 / fixed::pow10(8 - fut_dec),
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

/// Why a venue could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// No symbols were given.
    #[error("no symbols: give at least one, e.g. BTCUSDT")]
    NoSymbols,
    /// A symbol name is not 2 to 20 ASCII letters or digits.
    #[error("bad symbol name: use 2 to 20 ASCII letters or digits, e.g. BTCUSDT")]
    BadSymbol,
    /// The same symbol was given twice.
    #[error("a symbol was given twice")]
    DuplicateSymbol,
    /// The tape is shorter than 64 steps.
    #[error("tape length must be at least 64 steps")]
    TapeTooShort,
}

/// The simulated venue: one tape per symbol. Immutable once built; share it with `Arc`.
#[derive(Debug)]
pub struct Venue {
    market: Market,
    tapes: Vec<Tape>,
    lower: Vec<String>,
}

impl Venue {
    /// Builds every symbol's tape (a few ms per symbol).
    pub fn new(config: &VenueConfig) -> Result<Arc<Venue>, VenueError> {
        if config.symbols.is_empty() {
            return Err(VenueError::NoSymbols);
        }
        if config.tape_len < 64 {
            return Err(VenueError::TapeTooShort);
        }
        let mut tapes = Vec::with_capacity(config.symbols.len());
        let mut lower: Vec<String> = Vec::with_capacity(config.symbols.len());
        for (i, name) in config.symbols.iter().enumerate() {
            let spec = SymbolSpec::for_market(config.market, name)?;
            let l = spec.name.to_ascii_lowercase();
            if lower.contains(&l) {
                return Err(VenueError::DuplicateSymbol);
            }
            lower.push(l);
            let seed = config.seed ^ (i as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            tapes.push(Tape::build(
                config.market,
                spec,
                config.mix,
                config.tape_len,
                seed,
            ));
        }
        Ok(Arc::new(Venue {
            market: config.market,
            tapes,
            lower,
        }))
    }

    /// Spot or USD-M.
    pub fn market(&self) -> Market {
        self.market
    }

    /// Number of symbols.
    pub fn symbol_count(&self) -> usize {
        self.tapes.len()
    }

    /// A symbol's formats.
    pub fn spec(&self, sym: usize) -> &SymbolSpec {
        &self.tapes[sym].spec
    }

    /// A symbol's tape.
    pub fn tape(&self, sym: usize) -> &Tape {
        &self.tapes[sym]
    }

    /// Lower-case symbol names, as in stream names.
    pub fn lower_names(&self) -> &[String] {
        &self.lower
    }

    /// The index of a symbol by name, in any case.
    pub fn symbol_index(&self, name: &str) -> Option<usize> {
        self.lower.iter().position(|l| l.eq_ignore_ascii_case(name))
    }

    /// The symbol and step of global event `event`.
    pub fn locate(&self, event: u64) -> (usize, u64) {
        let n = self.tapes.len() as u64;
        ((event % n) as usize, event / n)
    }

    /// Steps of `sym` among the events before `event`.
    pub fn steps_before(&self, sym: usize, event: u64) -> u64 {
        let n = self.tapes.len() as u64;
        (event + n - 1 - sym as u64) / n
    }

    /// The symbol's book once every event before `event` has happened.
    pub fn book_at(&self, sym: usize, event: u64) -> Book {
        self.tapes[sym].book_after(self.steps_before(sym, event))
    }

    /// The symbol's last update id once every event before `event` has happened.
    pub fn update_id_at(&self, sym: usize, event: u64) -> u64 {
        self.tapes[sym].update_id_after(self.steps_before(sym, event))
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
                tape::push_level(out, spec, level);
            }
        }
        out.extend_from_slice(b"]}");
    }
}

#[cfg(test)]
mod tests;
