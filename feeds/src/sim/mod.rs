//! The venue-neutral simulator core: a deterministic venue model (per symbol an L2 book
//! that walks randomly, trades and top-of-book, with per-symbol update ids), the traits a
//! venue implements to be served by `tickwire sim` ([`SimVenue`], [`SimFeed`]) and the
//! registry of simulated venues ([`venue`]).
//!
//! Nothing here touches a socket or reads a clock: the server (`tickwire sim`, in the tools
//! crate) passes the time in and frames the bytes. Given the same seed the venue is the same.
//! What is venue-specific (wire shapes, control protocol, REST routes, content faults) lives
//! in the venue's module, e.g. [`crate::binance::sim`]; adding a venue is described in the
//! repository's `docs/venue-plumbing.md`.
//!
//! # The venue clock
//!
//! The venue publishes one global sequence of *events*. Event `n` belongs to symbol
//! `n % symbols` and is that symbol's step `n / symbols`; a step is a book diff, a trade or a
//! top-of-book publication, drawn by the configured [`Mix`]. Every connection walks the same
//! sequence and sends the events its subscriptions select, so a snapshot taken "at event
//! `n`" ([`Model::book_at`], [`Model::update_id_at`]) lines up with every stream.
//!
//! Each symbol's steps come from a [`tape::Tape`], a palindromic cycle rendered once at
//! start-up by the venue's [`tape::TapeText`], so sending costs a copy and a few integer
//! formats.

mod book;
mod fixed;
mod kit;
mod registry;
mod rng;
pub mod tape;
mod traits;

pub use book::{Book, BookSide, Level};
pub use fixed::{pow10, push_fixed, push_u64};
pub use kit::{ContentFaults, SnapshotQueue};
pub use registry::{SimVenueEntry, UnknownVenue, known_names, sim_entry, sim_venues, venue};
pub use rng::Rng;
pub use traits::{
    ControlOutcome, FaultCounts, FeedRequest, HttpAnswer, SessionDefaults, SimFault, SimFeed,
    SimVenue,
};

use tape::{IdRule, StepKind, Tape, TapeText};

/// The relative frequencies of the three kinds of venue event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Book diffs.
    pub depth: u32,
    /// Trades.
    pub trade: u32,
    /// Top-of-book publications.
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
    /// The name as the venue spells it in messages, e.g. `BTCUSDT` or `BTC-USDT`.
    pub name: String,
    /// Fraction digits of rendered prices.
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

/// What every simulated venue is built from (the venue adds its own rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVenueConfig {
    /// Symbols, as the user typed them (each venue checks and normalizes them).
    pub symbols: Vec<String>,
    /// Event mix.
    pub mix: Mix,
    /// Seed of every random choice.
    pub seed: u64,
    /// Steps per symbol tape (even, >= 64). Memory is about 200 bytes a step per symbol.
    pub tape_len: usize,
}

impl Default for SimVenueConfig {
    /// BTCUSDT alone, default mix, seed 1, 4096-step tapes.
    fn default() -> Self {
        SimVenueConfig {
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

/// The venue-neutral model: one tape per symbol and the global event clock. Immutable once
/// built; a venue wraps it with its wire shapes.
#[derive(Debug)]
pub struct Model {
    tapes: Vec<Tape>,
    lower: Vec<String>,
}

impl Model {
    /// Builds every symbol's tape (a few ms per symbol). `spec` turns a configured name
    /// into the venue's formats (and refuses bad names); `ids` numbers updates; `text`
    /// renders step bodies. Names are unique case-insensitively.
    pub fn build(
        config: &SimVenueConfig,
        spec: impl Fn(&str) -> Result<SymbolSpec, VenueError>,
        ids: IdRule,
        text: &dyn TapeText,
    ) -> Result<Model, VenueError> {
        if config.symbols.is_empty() {
            return Err(VenueError::NoSymbols);
        }
        if config.tape_len < 64 {
            return Err(VenueError::TapeTooShort);
        }
        let mut tapes = Vec::with_capacity(config.symbols.len());
        let mut lower: Vec<String> = Vec::with_capacity(config.symbols.len());
        for (i, name) in config.symbols.iter().enumerate() {
            let spec = spec(name)?;
            let l = spec.name.to_ascii_lowercase();
            if lower.contains(&l) {
                return Err(VenueError::DuplicateSymbol);
            }
            lower.push(l);
            let seed = config.seed ^ (i as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
            tapes.push(Tape::build(
                spec,
                config.mix,
                config.tape_len,
                seed,
                ids,
                text,
            ));
        }
        Ok(Model { tapes, lower })
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

    /// Lower-case symbol names (as the venue spells them, lower-cased).
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
}

/// The value of `key` in a URL query string, percent-decoded (`+` is a space).
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
