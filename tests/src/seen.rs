//! What a consumer of a venue simulator saw, tallied: its books rebuilt from the events,
//! every status, trades, BBOs, snapshot runs, crossed and over-deep books; and a wait with a
//! deadline. Shared by the per-venue simulator tests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind, TradeId};
use tickwire_engine::{Consumer, InstrumentId};

/// One status as seen: kind, instrument, reason code, value.
pub type SeenStatus = (StatusKind, InstrumentId, u16, u64);

/// A consumer's tally. See the module docs.
pub struct Seen {
    /// Per instrument, the book rebuilt from the events.
    pub books: HashMap<InstrumentId, Book>,
    /// Every status, in order.
    pub statuses: Vec<SeenStatus>,
    /// Trades.
    pub trades: u64,
    /// Trades with UUID ids.
    pub uuid_trades: u64,
    /// BBOs (each asserted bid below ask).
    pub bbos: u64,
    /// Snapshot runs (their last level).
    pub snapshots: u64,
    /// Batches after which a valid book was crossed.
    pub crossed: u64,
    /// Batches after which a valid book held more than `depth` levels a side.
    pub over_deep: u64,
    depth: usize,
}

impl Seen {
    /// A tally whose books hold `depth` levels a side.
    pub fn new(depth: usize) -> Seen {
        Seen {
            books: HashMap::new(),
            statuses: Vec::new(),
            trades: 0,
            uuid_trades: 0,
            bbos: 0,
            snapshots: 0,
            crossed: 0,
            over_deep: 0,
            depth,
        }
    }

    /// Pops and tallies everything `c` holds now.
    pub fn drain(&mut self, c: &mut Consumer) {
        while let Some(e) = c.pop() {
            match e.kind() {
                EventKind::Trade => {
                    self.trades += 1;
                    if matches!(e.trade_id(), Some(TradeId::Uuid(_))) {
                        self.uuid_trades += 1;
                    }
                }
                EventKind::Bbo => {
                    let b = e.as_bbo().expect("a BBO");
                    assert!(b.bid_price < b.ask_price, "{b:?}");
                    self.bbos += 1;
                }
                EventKind::Status => {
                    let s = e.as_status().expect("a status");
                    self.statuses
                        .push((s.kind, e.instrument, s.reason, s.value));
                    if e.instrument == InstrumentId::NONE {
                        for b in self.books.values_mut() {
                            b.apply_event(&e).expect("a status applies");
                        }
                    } else if let Some(b) = self.books.get_mut(&e.instrument) {
                        b.apply_event(&e).expect("a status applies");
                    }
                }
                EventKind::BookLevel => {
                    let depth = self.depth;
                    let book = self
                        .books
                        .entry(e.instrument)
                        .or_insert_with(|| Book::new(BookConfig::with_depth(depth)));
                    book.apply_event(&e).expect("a level applies");
                    if e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)) {
                        self.snapshots += 1;
                    }
                    if e.flags.contains(Flags::LAST_IN_BATCH) && book.is_valid() {
                        self.crossed += u64::from(book.is_crossed());
                        self.over_deep +=
                            u64::from(book.bid_len() > depth || book.ask_len() > depth);
                    }
                }
            }
        }
    }

    /// Books valid now.
    pub fn valid_books(&self) -> usize {
        self.books.values().filter(|b| b.is_valid()).count()
    }

    /// Statuses of `kind` so far.
    pub fn count(&self, kind: StatusKind) -> usize {
        self.statuses.iter().filter(|s| s.0 == kind).count()
    }

    /// Drains `c` until `done(self)`; panics after 30 s with the statuses seen.
    pub fn until(&mut self, c: &mut Consumer, what: &str, mut done: impl FnMut(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.drain(c);
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; statuses {:?}",
                self.statuses
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
