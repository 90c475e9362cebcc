//! An L2 order book per instrument: exact prices, bounded depth, O(1) top of book.
//!
//! The same [`Book`] serves the I/O thread (which keeps one per instrument to validate what it
//! publishes) and consumers (which rebuild theirs from [`Event`]s with [`Book::apply_event`]).
//!
//! ## Representation
//!
//! Prices are integer mantissas at one price scale per book; asks are stored under the key
//! `!price` so both sides share one layout where a larger key is a better level. The scales
//! are learnt from the first level and only ever get finer: a price (or quantity) with more
//! decimals than the book has seen re-keys every level to the finer scale in place
//! (O(levels), no allocation; venues that do not pad decimals send `99.5`, then `99.55`,
//! then `99.500000001`). A value the book cannot hold (its mantissa at the finest scale seen
//! overflows an `i64`) is [`BookError::Overflow`]. Each side has two parts, and every level
//! is in exactly one of them:
//!
//! - a **grid** around the top: one slot per tick over a fixed range of keys (64K slots for
//!   the default depth, `8 × depth` rounded up to a power of two for smaller books). A slot
//!   holds a 2-byte index into a pool of `depth` quantities (so the grid's hot memory stays
//!   small), and a bitmap of occupied slots with a summary bitmap of its non-empty words says
//!   which slots are live. A level on the grid is found by an exact division by the tick (a
//!   multiply by an inverse, no `div`), so an update, insert or delete there is O(1); the best
//!   slot is kept, and when it is deleted the next one is found in a few word reads through
//!   the two bitmap levels.
//! - a **sorted array** for the rest: levels below (or far above) the grid's range, prices off
//!   the grid, and every level until the tick is known. It keeps ascending keys in the middle
//!   of a buffer twice the depth; deletes leave tombstones and inserts shift the shorter part.
//!
//! The tick is not configured: it is learnt as the gcd of the distances between the first
//! levels, and refined (the gcd again) when a level inside the grid's range is off the grid.
//! The grid is placed with the best level at three quarters of its range, so the top can
//! improve without leaving it; it is placed again (O(levels + slots / 4096), with no
//! allocation) when new levels come in above it, or below it once the top has fallen into its
//! lowest quarter, and at most once per `levels / 8` changes outside it, so the cost stays
//! amortized O(1) even when the top jumps by a quarter of the grid at every change. The best
//! level is the better of the grid's and the array's, so best bid and ask stay O(1).
//!
//! ## Memory
//!
//! [`Book::new`] allocates nothing: a subscribed instrument that never gets data costs the
//! size of a `Book` (a few hundred bytes). Storage is sized by the levels a side holds: it
//! is allocated at the first level (room for 16), doubled when a new level finds the side
//! full below its depth, and resized when a snapshot is complete ([`Book::set_valid`], or
//! the end of a SNAPSHOT run in [`Book::apply_event`]) and by [`Book::fit_storage`] to room
//! for four times the levels held (diffs bring levels beyond the snapshot's depth), at most
//! the depth; an empty book releases it all. So growth happens while a snapshot is
//! installed, off the per-message path; a book that outgrows its headroom later doubles
//! again when a new level finds it full (amortized, and only while it is still growing).
//! Every allocation is written at once, so no page is first touched later on the I/O
//! thread. A full default-depth side costs about 0.4 MiB, as before; a 20-level side a few
//! KiB ([`Book::heap_bytes`]).
//!
//! ## Depth
//!
//! A book holds at most `depth` levels a side; a new level beyond a full side is dropped, and
//! inserting inside a full side drops the far-most level. Both are counted
//! ([`BookStats::dropped_levels`]). A truncated book is exact at the top but may miss far
//! levels that later move into range, so pick a depth at least the venue's snapshot depth
//! when the far side matters.

mod grid;
mod levels;
mod sorted;

use crate::decimal::{Decimal, DecimalError};
use crate::event::{Event, EventKind, Flags, Side, StatusKind};
use levels::Levels;

/// Why a level could not be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// The price or quantity has more decimals than a fixed scale of the book's config
    /// ([`BookConfig::price_scale`], [`BookConfig::qty_scale`]). Learnt scales get finer
    /// instead.
    #[error("more decimals than the book's scale")]
    Precision,
    /// The value, or a level held once re-keyed to the value's finer scale, does not fit an
    /// `i64` mantissa at the finest scale the book has seen (a book cannot hold both
    /// `90000000000000` and `0.000000001` exactly).
    #[error("value overflows at the book's scale (i64 mantissa at the finest scale seen)")]
    Overflow,
    /// Quantities are never negative.
    #[error("negative quantity")]
    NegativeQty,
    /// A level must be on the bid or ask side.
    #[error("level without a side")]
    NoSide,
}

impl From<DecimalError> for BookError {
    fn from(e: DecimalError) -> BookError {
        match e {
            DecimalError::Overflow => BookError::Overflow,
            DecimalError::Syntax | DecimalError::ScaleTooLarge => BookError::Precision,
        }
    }
}

/// What applying one level did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new level was added.
    Inserted,
    /// An existing level got a new quantity.
    Updated,
    /// A level was removed (quantity zero).
    Deleted,
    /// A delete for a level the book does not hold (normal: levels beyond the snapshot).
    DeleteUnknown,
    /// A new level beyond a full side was dropped (counted).
    DroppedBeyondDepth,
}

/// What [`Book::apply_event`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventEffect {
    /// A level was applied; `consistent` when it ended a message (LAST_IN_BATCH).
    Level {
        /// What the level did.
        change: Change,
        /// The event closed a venue message: the book is consistent after it.
        consistent: bool,
    },
    /// The event made the book invalid until the next snapshot run (resync, overflow).
    Invalidated,
    /// A SNAPSHOT level of a run whose first level ([`Flags::RUN_START`]) this book did not
    /// see (it was dropped, or came before an `Overflow`): not applied; the book is invalid
    /// until the next whole run.
    Skipped,
    /// Not a book event (trade, BBO, other status).
    Ignored,
}

/// Book sizing and scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// Most levels kept per side (at least 1).
    pub depth: usize,
    /// Price scale; `None` adopts the scale of the first level applied, and a finer one
    /// whenever a price has more decimals. A fixed scale refuses finer prices
    /// ([`BookError::Precision`]).
    pub price_scale: Option<u8>,
    /// Quantity scale; `None` learns it as for prices.
    pub qty_scale: Option<u8>,
}

impl BookConfig {
    /// A config of `depth` levels a side that learns its scales from the first level.
    pub const fn with_depth(depth: usize) -> BookConfig {
        BookConfig {
            depth,
            price_scale: None,
            qty_scale: None,
        }
    }
}

impl Default for BookConfig {
    /// 5000 levels a side (Binance spot's largest snapshot), scales learnt.
    fn default() -> BookConfig {
        BookConfig::with_depth(5000)
    }
}

/// Counters of one book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    /// Levels dropped because a side was full.
    pub dropped_levels: u64,
    /// Deletes of levels the book did not hold.
    pub unknown_deletes: u64,
}

/// `n` copies of `v`, every page written now: a zeroed allocation can be mapped lazily, and
/// its first touch would then fault on the I/O thread.
fn prefaulted<T: Copy>(n: usize, v: T) -> Box<[T]> {
    let mut b = vec![v; n].into_boxed_slice();
    let step = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    for x in b.iter_mut().step_by(step) {
        *x = std::hint::black_box(v);
    }
    // The last page may start after the last write above.
    if let Some(x) = b.last_mut() {
        *x = std::hint::black_box(v);
    }
    b
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No complete snapshot yet, or invalidated.
    Invalid,
    /// Inside a snapshot run (cleared at its first level).
    InSnapshot,
    /// Built from a complete snapshot and the diffs after it.
    Valid,
}

/// An L2 book. See the module docs.
#[derive(Clone, Debug)]
pub struct Book {
    bids: Levels,
    asks: Levels,
    price_scale: Option<u8>,
    qty_scale: Option<u8>,
    /// The scales were fixed by the config (not learnt, never made finer).
    fixed_scales: (bool, bool),
    seq: u64,
    state: State,
    stats: BookStats,
}

#[inline]
fn ask_key(price: i64) -> i64 {
    !price
}

impl Book {
    /// An empty (invalid until its first snapshot) book; allocates nothing (see the module
    /// docs on memory).
    pub fn new(config: BookConfig) -> Book {
        let depth = config.depth.max(1);
        Book {
            bids: Levels::new(depth),
            asks: Levels::new(depth),
            price_scale: config.price_scale,
            qty_scale: config.qty_scale,
            fixed_scales: (config.price_scale.is_some(), config.qty_scale.is_some()),
            seq: 0,
            state: State::Invalid,
            stats: BookStats::default(),
        }
    }

    /// Removes every level (scales and counters are kept).
    #[inline]
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Applies one level change: `qty` zero deletes the level. Prices and quantities are
    /// brought to the book's scales exactly; one with more decimals than a learnt scale
    /// makes the book's scale finer first (every level re-keyed, see the module docs).
    #[inline]
    pub fn apply(&mut self, side: Side, price: Decimal, qty: Decimal) -> Result<Change, BookError> {
        if self.price_scale == Some(price.scale()) && self.qty_scale == Some(qty.scale()) {
            return self.apply_mantissas(side, price.mantissa(), qty.mantissa());
        }
        self.apply_rescaled(side, price, qty)
    }

    /// [`Book::apply`] when a scale differs from the book's (or is not learnt yet).
    #[inline(never)]
    fn apply_rescaled(
        &mut self,
        side: Side,
        price: Decimal,
        qty: Decimal,
    ) -> Result<Change, BookError> {
        let ps = *self.price_scale.get_or_insert(price.scale());
        let qs = *self.qty_scale.get_or_insert(qty.scale());
        let p = match price.mantissa_at(ps) {
            Err(DecimalError::ScaleTooLarge) if !self.fixed_scales.0 => {
                let price = price.normalize();
                self.refine_price_scale(price.scale())?;
                price.mantissa()
            }
            p => p?,
        };
        let q = match qty.mantissa_at(qs) {
            Err(DecimalError::ScaleTooLarge) if !self.fixed_scales.1 => {
                let qty = qty.normalize();
                self.refine_qty_scale(qty.scale())?;
                qty.mantissa()
            }
            q => q?,
        };
        self.apply_mantissas(side, p, q)
    }

    /// Moves every level to price scale `scale` (finer than the current one): keys are
    /// multiplied by `10^(scale - old)` (asks' `!price` keys map to `!(price * f)`), checked
    /// on both sides before either changes.
    #[cold]
    fn refine_price_scale(&mut self, scale: u8) -> Result<(), BookError> {
        let old = self.price_scale.unwrap_or(0);
        let f = Decimal::from_parts(1, 0)
            .mantissa_at(scale - old)
            .map_err(|_| BookError::Overflow)?;
        // Ask key k = !p = -p - 1, so !(p * f) = k * f + (f - 1).
        if !self.bids.can_rekey(f, 0) || !self.asks.can_rekey(f, f - 1) {
            return Err(BookError::Overflow);
        }
        self.bids.rekey(f, 0);
        self.asks.rekey(f, f - 1);
        self.price_scale = Some(scale);
        Ok(())
    }

    /// Moves every quantity to scale `scale` (finer than the current one), checked first.
    #[cold]
    fn refine_qty_scale(&mut self, scale: u8) -> Result<(), BookError> {
        let old = self.qty_scale.unwrap_or(0);
        let f = Decimal::from_parts(1, 0)
            .mantissa_at(scale - old)
            .map_err(|_| BookError::Overflow)?;
        if !self.bids.can_scale_qtys(f) || !self.asks.can_scale_qtys(f) {
            return Err(BookError::Overflow);
        }
        self.bids.scale_qtys(f);
        self.asks.scale_qtys(f);
        self.qty_scale = Some(scale);
        Ok(())
    }

    /// Sizes each side's storage for the levels it holds now (room for four times as many,
    /// at most the depth; none when empty). Allocates and writes: call it off the per-message
    /// path ([`Book::set_valid`] does, after a snapshot is installed).
    pub fn fit_storage(&mut self) {
        self.bids.fit();
        self.asks.fit();
    }

    /// Bytes of heap the book holds (its storage, not the `Book` itself).
    pub fn heap_bytes(&self) -> usize {
        self.bids.heap_bytes() + self.asks.heap_bytes()
    }

    /// Levels the (bid, ask) sides have room for without allocating.
    pub fn capacity(&self) -> (usize, usize) {
        (self.bids.capacity(), self.asks.capacity())
    }

    /// Applies one level change given as mantissas at the book's scales.
    #[inline]
    pub fn apply_mantissas(
        &mut self,
        side: Side,
        price: i64,
        qty: i64,
    ) -> Result<Change, BookError> {
        if qty < 0 {
            return Err(BookError::NegativeQty);
        }
        match side {
            Side::Buy => Ok(self.bids.set(price, qty, &mut self.stats)),
            Side::Sell => Ok(self.asks.set(ask_key(price), qty, &mut self.stats)),
            Side::None => Err(BookError::NoSide),
        }
    }

    /// Rebuilds from an event stream: a BookLevel event is applied (a snapshot run's first
    /// level, flagged SNAPSHOT and RUN_START, clears the book first; LAST_IN_BATCH ends a
    /// message, and ends a snapshot run by making the book valid); a `Resync` or `Overflow`
    /// status invalidates and clears the book. The caller routes events by instrument, and
    /// passes status events that carry [`crate::InstrumentId::NONE`] (such as `Overflow`) to
    /// every book.
    ///
    /// The book is valid only after a whole snapshot run (its RUN_START level through its
    /// LAST_IN_BATCH level, with no `Overflow` or `Resync` between) and the diffs after it:
    /// the rest of a run whose start it did not see is [`EventEffect::Skipped`], and a run
    /// broken by another level is not taken as whole. Diffs never make it valid.
    pub fn apply_event(&mut self, e: &Event) -> Result<EventEffect, BookError> {
        match e.kind() {
            EventKind::BookLevel => {
                let Some(l) = e.as_level() else {
                    return Ok(EventEffect::Ignored);
                };
                if e.flags.contains(Flags::SNAPSHOT) {
                    if e.flags.contains(Flags::RUN_START) {
                        self.clear();
                        self.state = State::InSnapshot;
                    } else if self.state != State::InSnapshot {
                        // A run seen from its middle: whatever came before it is unknown.
                        self.invalidate();
                        return Ok(EventEffect::Skipped);
                    }
                } else if self.state == State::InSnapshot {
                    // A diff inside a snapshot run: the run is not whole.
                    self.state = State::Invalid;
                }
                let change = self.apply(l.side, l.price, l.qty);
                let consistent = e.flags.contains(Flags::LAST_IN_BATCH);
                if consistent {
                    self.seq = l.seq;
                    if self.state == State::InSnapshot {
                        self.state = State::Valid;
                        // Sized for the snapshot now, not by the diffs after it.
                        self.fit_storage();
                    }
                }
                match change {
                    Ok(change) => Ok(EventEffect::Level { change, consistent }),
                    Err(err) => {
                        self.invalidate();
                        Err(err)
                    }
                }
            }
            EventKind::Status => match e.as_status().map(|s| s.kind) {
                Some(StatusKind::Resync | StatusKind::Overflow) => {
                    self.invalidate();
                    Ok(EventEffect::Invalidated)
                }
                _ => Ok(EventEffect::Ignored),
            },
            EventKind::Trade | EventKind::Bbo => Ok(EventEffect::Ignored),
        }
    }

    /// Marks the book invalid and empties it, until the next snapshot run.
    pub fn invalidate(&mut self) {
        self.clear();
        self.state = State::Invalid;
    }

    /// Marks the book as built from a complete snapshot (the I/O thread's book, which is
    /// filled with [`Book::apply`] rather than from events), and sizes its storage for what
    /// the snapshot holds ([`Book::fit_storage`]).
    pub fn set_valid(&mut self, seq: u64) {
        self.state = State::Valid;
        self.seq = seq;
        self.fit_storage();
    }

    /// Whether the book was built from a complete snapshot and has not been invalidated.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.state == State::Valid
    }

    /// Venue sequence of the last complete message applied.
    #[inline]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records the venue sequence of the last message applied.
    #[inline]
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// The price scale in use (`None` until learnt).
    pub fn price_scale(&self) -> Option<u8> {
        self.price_scale
    }

    /// The quantity scale in use (`None` until learnt).
    pub fn qty_scale(&self) -> Option<u8> {
        self.qty_scale
    }

    /// Counters.
    pub fn stats(&self) -> BookStats {
        self.stats
    }

    #[inline]
    fn level(&self, price: i64, qty: i64) -> (Decimal, Decimal) {
        (
            Decimal::from_parts(price, self.price_scale.unwrap_or(0)),
            Decimal::from_parts(qty, self.qty_scale.unwrap_or(0)),
        )
    }

    /// Best bid (price, quantity). O(1).
    #[inline]
    pub fn best_bid(&self) -> Option<(Decimal, Decimal)> {
        self.bids.best().map(|(p, q)| self.level(p, q))
    }

    /// Best ask (price, quantity). O(1).
    #[inline]
    pub fn best_ask(&self) -> Option<(Decimal, Decimal)> {
        self.asks.best().map(|(k, q)| self.level(ask_key(k), q))
    }

    /// Best bid and ask price mantissas at the book's price scale ([`Book::price_scale`],
    /// which a finer price may change). O(1).
    #[inline]
    pub fn top_mantissas(&self) -> (Option<i64>, Option<i64>) {
        (
            self.bids.best().map(|(p, _)| p),
            self.asks.best().map(|(k, _)| ask_key(k)),
        )
    }

    /// Whether the best bid is at or above the best ask.
    pub fn is_crossed(&self) -> bool {
        matches!(self.top_mantissas(), (Some(b), Some(a)) if b >= a)
    }

    /// The best `n` bids, best first.
    pub fn bids(&self, n: usize) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
        self.bids.iter_desc().take(n).map(|(p, q)| self.level(p, q))
    }

    /// The best `n` asks, best first.
    pub fn asks(&self, n: usize) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
        self.asks
            .iter_desc()
            .take(n)
            .map(|(k, q)| self.level(ask_key(k), q))
    }

    /// Number of bid levels held.
    pub fn bid_len(&self) -> usize {
        self.bids.len()
    }

    /// Number of ask levels held.
    pub fn ask_len(&self) -> usize {
        self.asks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Level, Status};
    use crate::instrument::InstrumentId;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn top_of_book_and_iteration() {
        let mut b = Book::new(BookConfig::with_depth(10));
        b.apply(Side::Buy, d("100.00"), d("1.5")).unwrap();
        b.apply(Side::Buy, d("99.50"), d("2.0")).unwrap();
        b.apply(Side::Sell, d("100.50"), d("0.1")).unwrap();
        b.apply(Side::Sell, d("101.00"), d("3.0")).unwrap();
        assert_eq!(b.best_bid(), Some((d("100"), d("1.5"))));
        assert_eq!(b.best_ask(), Some((d("100.5"), d("0.1"))));
        let bids: Vec<_> = b.bids(5).map(|(p, _)| p.to_string()).collect();
        assert_eq!(bids, ["100.00", "99.50"]);
        let asks: Vec<_> = b.asks(5).map(|(p, _)| p.to_string()).collect();
        assert_eq!(asks, ["100.50", "101.00"]);
        assert_eq!(
            b.apply(Side::Sell, d("100.50"), d("0")).unwrap(),
            Change::Deleted
        );
        assert_eq!(b.best_ask(), Some((d("101"), d("3"))));
        assert_eq!(
            b.apply(Side::Sell, d("100.50"), d("0")).unwrap(),
            Change::DeleteUnknown
        );
        assert!(!b.is_crossed());
        b.apply(Side::Buy, d("101.00"), d("1")).unwrap();
        assert!(b.is_crossed());
    }

    #[test]
    fn precision_beyond_a_fixed_scale_is_an_error() {
        let mut b = Book::new(BookConfig {
            depth: 4,
            price_scale: Some(2),
            qty_scale: None,
        });
        b.apply(Side::Buy, d("100.00"), d("1.000")).unwrap();
        assert_eq!(
            b.apply(Side::Buy, d("100.001"), d("1")),
            Err(BookError::Precision)
        );
        // Fewer decimals rescale exactly.
        assert_eq!(b.apply(Side::Buy, d("100.1"), d("2")), Ok(Change::Inserted));
        assert_eq!(b.best_bid().unwrap().0.to_string(), "100.10");
        assert_eq!(
            b.apply(Side::Buy, d("1"), d("-1")),
            Err(BookError::NegativeQty)
        );
        assert_eq!(b.apply(Side::None, d("1"), d("1")), Err(BookError::NoSide));
    }

    #[test]
    fn depth_is_bounded_on_the_far_side() {
        let mut b = Book::new(BookConfig::with_depth(3));
        for p in [10, 11, 12] {
            b.apply_mantissas(Side::Buy, p, 1).unwrap();
        }
        // Worse than all, side full: dropped.
        assert_eq!(
            b.apply_mantissas(Side::Buy, 9, 1).unwrap(),
            Change::DroppedBeyondDepth
        );
        // Inside: inserted, the far-most (10) dropped.
        assert_eq!(
            b.apply_mantissas(Side::Buy, 13, 1).unwrap(),
            Change::Inserted
        );
        let prices: Vec<_> = b.bids(10).map(|(p, _)| p.mantissa()).collect();
        assert_eq!(prices, [13, 12, 11]);
        assert_eq!(b.stats().dropped_levels, 2);
        for p in [5, 4, 3] {
            b.apply_mantissas(Side::Sell, p, 1).unwrap();
        }
        b.apply_mantissas(Side::Sell, 1, 1).unwrap();
        let asks: Vec<_> = b.asks(10).map(|(p, _)| p.mantissa()).collect();
        assert_eq!(asks, [1, 3, 4]);
    }

    #[test]
    fn window_drift_recenters() {
        let mut b = Book::new(BookConfig::with_depth(4));
        // Ever-better bids push the window right; ever-worse asks push it left (the far end
        // is dropped once full).
        for p in 1..1000 {
            b.apply_mantissas(Side::Buy, p, 1).unwrap();
            b.apply_mantissas(Side::Sell, 10_000 - p, 1).unwrap();
        }
        let bids: Vec<_> = b.bids(10).map(|(p, _)| p.mantissa()).collect();
        assert_eq!(bids, [999, 998, 997, 996]);
        let asks: Vec<_> = b.asks(10).map(|(p, _)| p.mantissa()).collect();
        assert_eq!(asks, [9001, 9002, 9003, 9004]);
        // Worse and worse bids when not full: inserted at the far end.
        let mut b = Book::new(BookConfig::with_depth(2000));
        for p in (0..1500).rev() {
            b.apply_mantissas(Side::Buy, p, 1).unwrap();
        }
        assert_eq!(b.bid_len(), 1500);
        assert_eq!(b.best_bid().unwrap().0.mantissa(), 1499);
        assert_eq!(b.bids(usize::MAX).last().unwrap().0.mantissa(), 0);
    }

    #[test]
    fn grid_learns_the_tick_and_follows_the_top() {
        let mut b = Book::new(BookConfig {
            depth: 5000,
            price_scale: Some(0),
            qty_scale: Some(0),
        });
        // Levels 20 apart: the tick learnt is 20 until a level 10 off that grid comes in.
        for i in 0..100 {
            b.apply_mantissas(Side::Buy, 1_000_000 - 20 * i, 1).unwrap();
            b.apply_mantissas(Side::Sell, 1_000_020 + 20 * i, 1)
                .unwrap();
        }
        assert_eq!(b.bids.grid_state(), (100, 20));
        assert_eq!(b.asks.grid_state(), (100, 20));
        b.apply_mantissas(Side::Buy, 999_990, 1).unwrap();
        assert_eq!(b.bids.grid_state(), (101, 10));
        // Room for the whole depth: the grid's full size (64K slots).
        b.bids.resize(5000);
        assert_eq!(b.bids.grid_state(), (101, 10));
        // The market rises by far more than the grid spans; the grid follows the top.
        for step in 1..=40i64 {
            let top = 1_000_000 + step * 20_000;
            for j in 0..50 {
                b.apply_mantissas(Side::Buy, top - 10 * j, 2).unwrap();
            }
        }
        assert_eq!(b.best_bid().unwrap().0.mantissa(), 1_800_000);
        let (in_grid, tick) = b.bids.grid_state();
        assert_eq!(tick, 10);
        // The levels near the top are in the grid (the grid spans 10 × 64K around it).
        assert!(
            in_grid >= 50 * 30,
            "{in_grid} of {} bids in the grid",
            b.bid_len()
        );
        assert!(b.bids.in_grid(1_800_000) && !b.bids.in_grid(1_000_000));
        // ...and falls with it: the rises are taken back, top first, and a set of levels
        // just below the top moves down with it.
        let below = |step: i64, j: i64| 1_800_000 - step * 20_000 - 5_000 - 10 * j;
        for step in 1..=40i64 {
            for j in 0..50 {
                let gone = 1_800_000 - (step - 1) * 20_000 - 10 * j;
                assert_eq!(b.apply_mantissas(Side::Buy, gone, 0), Ok(Change::Deleted));
                if step > 1 {
                    let gone = below(step - 1, j);
                    assert_eq!(b.apply_mantissas(Side::Buy, gone, 0), Ok(Change::Deleted));
                }
                b.apply_mantissas(Side::Buy, below(step, j), 3).unwrap();
            }
        }
        assert_eq!(b.best_bid().unwrap().0.mantissa(), 1_000_000);
        assert_eq!(b.bid_len(), 101 + 50);
        assert!(b.bids.in_grid(1_000_000) && b.bids.in_grid(995_000));
    }

    #[test]
    fn finer_scales_rekey_the_book() {
        // Venues that do not pad decimals (issue 18 item 3): 99.5, then 99.55, then 99.500000001.
        let mut b = Book::new(BookConfig::with_depth(100));
        b.apply(Side::Buy, d("99.5"), d("1")).unwrap();
        b.apply(Side::Sell, d("99.6"), d("2")).unwrap();
        assert_eq!(b.price_scale(), Some(1));
        assert_eq!(b.apply(Side::Buy, d("99.55"), d("3")), Ok(Change::Inserted));
        assert_eq!(b.price_scale(), Some(2));
        assert_eq!(
            b.apply(Side::Sell, d("99.500000001"), d("0.25")),
            Ok(Change::Inserted)
        );
        assert_eq!((b.price_scale(), b.qty_scale()), (Some(9), Some(2)));
        // Equal values at any scale hit the same level.
        assert_eq!(
            b.apply(Side::Buy, d("99.50000"), d("4")),
            Ok(Change::Updated)
        );
        assert_eq!(
            b.apply(Side::Sell, d("99.6000"), d("0")),
            Ok(Change::Deleted)
        );
        let bids: Vec<_> = b.bids(10).collect();
        assert_eq!(bids, [(d("99.55"), d("3")), (d("99.5"), d("4"))]);
        assert_eq!(b.best_ask(), Some((d("99.500000001"), d("0.25"))));
        assert!(b.is_crossed());
        // A quantity with more decimals refines the quantity scale.
        assert_eq!(
            b.apply(Side::Buy, d("99.5"), d("0.000000001")),
            Ok(Change::Updated)
        );
        assert_eq!(b.bids(10).nth(1), Some((d("99.5"), d("0.000000001"))));
        assert_eq!(b.bids(1).next(), Some((d("99.55"), d("3"))));
        // Two decimals, then eight (Binance-padded snapshot, unpadded diff).
        let mut b = Book::new(BookConfig::with_depth(10));
        b.apply(Side::Buy, d("61837.63"), d("1")).unwrap();
        b.apply(Side::Buy, d("61837.12345678"), d("1")).unwrap();
        assert_eq!(b.best_bid().unwrap().0.to_string(), "61837.63000000");
        assert_eq!(b.bid_len(), 2);
    }

    #[test]
    fn a_value_the_book_cannot_hold_is_reported_and_changes_nothing() {
        let mut b = Book::new(BookConfig::with_depth(10));
        b.apply(Side::Buy, d("90000000000"), d("1")).unwrap();
        b.apply(Side::Sell, d("90000000001"), d("1")).unwrap();
        // 9e10 at 9 decimals is 9e19: no i64 holds it.
        assert_eq!(
            b.apply(Side::Buy, d("0.000000001"), d("1")),
            Err(BookError::Overflow)
        );
        assert_eq!(b.price_scale(), Some(0));
        assert_eq!(b.best_bid(), Some((d("90000000000"), d("1"))));
        assert_eq!(b.best_ask(), Some((d("90000000001"), d("1"))));
        // Scale 8 still fits: taken.
        assert_eq!(
            b.apply(Side::Buy, d("0.00000001"), d("1")),
            Ok(Change::Inserted)
        );
        assert_eq!(b.bids(5).last(), Some((d("0.00000001"), d("1"))));
        // The same for quantities.
        b.apply(Side::Sell, d("90000000002"), d("90000000000"))
            .unwrap();
        assert_eq!(
            b.apply(Side::Sell, d("90000000003"), d("0.000000001")),
            Err(BookError::Overflow)
        );
        assert_eq!(b.asks(5).last(), Some((d("90000000002"), d("90000000000"))));
    }

    #[test]
    fn rekeying_keeps_the_grid_and_its_tick() {
        // A Binance-like book: 0.01 ticks written with 8 decimals (tick 1_000_000).
        let mut b = Book::new(BookConfig::with_depth(5000));
        for i in 0..3000i64 {
            let bid = Decimal::from_parts(6_000_000_000_000 - i * 1_000_000, 8);
            let ask = Decimal::from_parts(6_000_001_000_000 + i * 1_000_000, 8);
            b.apply(Side::Buy, bid, d("1.00000000")).unwrap();
            b.apply(Side::Sell, ask, d("1.00000000")).unwrap();
        }
        b.set_valid(1);
        let (bids_in_grid, tick) = b.bids.grid_state();
        assert_eq!(tick, 1_000_000);
        assert!(bids_in_grid > 2500, "{bids_in_grid}");
        let asks_in_grid = b.asks.grid_state().0;
        // A price with a 9th decimal, outside the grid's range: every level re-keyed ×10,
        // the grid's lattice with it.
        b.apply(Side::Buy, d("1.000000001"), d("1")).unwrap();
        assert_eq!(b.price_scale(), Some(9));
        assert_eq!(b.bids.grid_state(), (bids_in_grid, 10_000_000));
        assert_eq!(b.asks.grid_state(), (asks_in_grid, 10_000_000));
        // A half tick inside the range refines the tick (gcd); the levels stay in the grid.
        b.apply(Side::Buy, d("59999.995"), d("1")).unwrap();
        assert_eq!(b.bids.grid_state(), (bids_in_grid + 1, 5_000_000));
        assert_eq!(b.best_bid(), Some((d("60000"), d("1"))));
        assert_eq!(b.best_ask(), Some((d("60000.01"), d("1"))));
        assert_eq!((b.bid_len(), b.ask_len()), (3002, 3000));
    }

    #[test]
    fn storage_follows_the_levels_held() {
        let mut b = Book::new(BookConfig::default());
        assert_eq!(b.heap_bytes(), 0);
        assert_eq!(b.capacity(), (0, 0));
        for i in 0..20 {
            b.apply_mantissas(Side::Buy, 1000 - i, 1).unwrap();
            b.apply_mantissas(Side::Sell, 1001 + i, 1).unwrap();
        }
        b.set_valid(1);
        assert_eq!(b.capacity(), (80, 80));
        assert!(b.heap_bytes() < 32 * 1024, "{}", b.heap_bytes());
        for i in 20..5000 {
            b.apply_mantissas(Side::Buy, 1000 - i, 1).unwrap();
        }
        assert_eq!(b.capacity().0, 5000);
        assert_eq!(b.bid_len(), 5000);
        // A smaller snapshot later: shrunk to what it needs.
        b.invalidate();
        b.apply_mantissas(Side::Buy, 10, 1).unwrap();
        b.set_valid(2);
        assert_eq!(b.capacity(), (16, 0));
        assert_eq!(b.best_bid().unwrap().0.mantissa(), 10);
    }

    /// A decimal `units × 10^-scale`, written with `pad` extra trailing zeros.
    fn padded(units: i64, scale: u8, pad: u8) -> Decimal {
        Decimal::from_parts(units * 10i64.pow(u32::from(pad)), scale + pad)
    }

    /// The value of `d` × 10^20, exactly.
    fn wide(d: Decimal) -> i128 {
        i128::from(d.mantissa()) * 10i128.pow(20 - u32::from(d.scale()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Prices and quantities of mixed scales (as unpadded venues send them, some padded)
        /// against a BTreeMap of exact values after every change.
        #[test]
        fn mixed_scales_match_a_model(
            ops in proptest::collection::vec(
                (any::<bool>(), 1i64..40, prop_oneof![Just(0u8), Just(1), Just(2), Just(9)],
                 0i64..4, prop_oneof![Just(0u8), Just(3), Just(8), Just(12)], 0u8..3, 0u8..3),
                0..300,
            ),
            depth in prop_oneof![1usize..6, Just(1000)],
        ) {
            let mut b = Book::new(BookConfig::with_depth(depth));
            let mut bids: BTreeMap<i128, i128> = BTreeMap::new();
            let mut asks: BTreeMap<i128, i128> = BTreeMap::new();
            for (is_bid, pu, ps, qu, qs, ppad, qpad) in ops {
                let (price, qty) = (padded(pu, ps, ppad), padded(qu, qs, qpad));
                let side = if is_bid { Side::Buy } else { Side::Sell };
                b.apply(side, price, qty).unwrap();
                let (m, key) = if is_bid { (&mut bids, wide(price)) } else { (&mut asks, -wide(price)) };
                let q = wide(qty);
                if q == 0 {
                    m.remove(&key);
                } else if let Some(v) = m.get_mut(&key) {
                    *v = q;
                } else if m.len() < depth {
                    m.insert(key, q);
                } else if m.keys().next().is_some_and(|&w| key > w) {
                    let w = *m.keys().next().unwrap();
                    m.remove(&w);
                    m.insert(key, q);
                }
                let got: Vec<_> = b.bids(usize::MAX).map(|(p, q)| (wide(p), wide(q))).collect();
                let want: Vec<_> = bids.iter().rev().map(|(&k, &q)| (k, q)).collect();
                prop_assert_eq!(got, want);
                let got: Vec<_> = b.asks(usize::MAX).map(|(p, q)| (wide(p), wide(q))).collect();
                let want: Vec<_> = asks.iter().rev().map(|(&k, &q)| (-k, q)).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(b.best_bid().map(|l| wide(l.0)), bids.keys().next_back().copied());
            }
        }
    }

    fn level_event(side: Side, p: &str, q: &str, flags: Flags, seq: u64) -> Event {
        Event::level(
            InstrumentId(0),
            Level {
                side,
                price: d(p),
                qty: d(q),
                seq,
            },
            flags,
            0,
            0,
        )
        .unwrap()
    }

    #[test]
    fn rebuilds_from_events() {
        let snap = Flags::SNAPSHOT;
        let start = Flags::SNAPSHOT.with(Flags::RUN_START);
        let last = Flags::LAST_IN_BATCH;
        let mut b = Book::new(BookConfig::default());
        b.apply_event(&level_event(Side::Buy, "1.0", "5", start, 7))
            .unwrap();
        assert!(!b.is_valid());
        b.apply_event(&level_event(Side::Sell, "2.0", "5", snap.with(last), 7))
            .unwrap();
        assert!(b.is_valid());
        assert_eq!(b.seq(), 7);
        let e = b
            .apply_event(&level_event(Side::Sell, "2.0", "0", last, 9))
            .unwrap();
        assert_eq!(
            e,
            EventEffect::Level {
                change: Change::Deleted,
                consistent: true
            }
        );
        assert_eq!(b.seq(), 9);
        assert_eq!(b.best_ask(), None);
        // A new snapshot run clears at its first level.
        b.apply_event(&level_event(Side::Sell, "3.0", "1", start.with(last), 12))
            .unwrap();
        assert_eq!(b.bid_len(), 0);
        assert_eq!(b.best_ask().unwrap().0, d("3"));
        let resync = Event::status(
            InstrumentId(0),
            Status {
                kind: StatusKind::Resync,
                reason: 0,
                value: 0,
                connection: 0,
            },
            0,
        );
        assert_eq!(b.apply_event(&resync).unwrap(), EventEffect::Invalidated);
        assert!(!b.is_valid());
        assert_eq!(b.ask_len(), 0);
        // Diffs do not make an invalid book valid.
        b.apply_event(&level_event(Side::Sell, "3.0", "1", last, 13))
            .unwrap();
        assert!(!b.is_valid());
    }

    fn overflow_event() -> Event {
        Event::status(
            InstrumentId::NONE,
            Status {
                kind: StatusKind::Overflow,
                reason: 0,
                value: 1,
                connection: 0,
            },
            0,
        )
    }

    /// A SNAPSHOT run as a feed publishes it: first level RUN_START, last LAST_IN_BATCH.
    fn run(levels: &[(Side, &str, &str)], seq: u64) -> Vec<Event> {
        let n = levels.len();
        levels
            .iter()
            .enumerate()
            .map(|(i, &(side, p, q))| {
                let mut flags = Flags::SNAPSHOT;
                if i == 0 {
                    flags = flags.with(Flags::RUN_START);
                }
                if i + 1 == n {
                    flags = flags.with(Flags::LAST_IN_BATCH);
                }
                level_event(side, p, q, flags, seq)
            })
            .collect()
    }

    const SEVEN: [(Side, &str, &str); 7] = [
        (Side::Buy, "100", "1"),
        (Side::Buy, "99", "2"),
        (Side::Buy, "98", "3"),
        (Side::Sell, "101", "1"),
        (Side::Sell, "102", "2"),
        (Side::Sell, "103", "3"),
        (Side::Sell, "104", "4"),
    ];

    /// Issue 19 item 1, exactly: a ring of 4; a 7-level snapshot run pushed event by event;
    /// the consumer pops after the 5th (dropped) push; then the last level. The consumer sees
    /// 4 levels, `Overflow(1)` and the last level, and must not call the book valid.
    #[test]
    fn a_snapshot_run_cut_by_an_overflow_never_makes_the_book_valid() {
        let (mut p, mut c) = crate::ring::channel(4);
        let run = run(&SEVEN, 42);
        let delivered: Vec<bool> = run[..5].iter().map(|e| p.push(*e)).collect();
        assert_eq!(delivered, [true, true, true, true, false]);
        let mut b = Book::new(BookConfig::with_depth(10));
        let mut seen = Vec::new();
        while let Some(e) = c.pop() {
            seen.push(e);
            b.apply_event(&e).unwrap();
        }
        assert!(p.push(run[6]));
        while let Some(e) = c.pop() {
            seen.push(e);
            b.apply_event(&e).unwrap();
        }
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[..4], run[..4]);
        let s = seen[4].as_status().unwrap();
        assert_eq!((s.kind, s.value), (StatusKind::Overflow, 1));
        assert_eq!(seen[5], run[6]);
        // Before the fix: valid, with 0 bids and 1 ask (the run has 3 bids and 4 asks).
        assert!(!b.is_valid(), "{} bids, {} asks", b.bid_len(), b.ask_len());
        // The next whole run makes it valid, with every level of it.
        for e in &run {
            b.apply_event(e).unwrap();
        }
        assert!(b.is_valid());
        assert_eq!((b.bid_len(), b.ask_len()), (3, 4));
        assert_eq!(b.best_bid(), Some((d("100"), d("1"))));
        assert_eq!(b.asks(9).last(), Some((d("104"), d("4"))));
    }

    #[test]
    fn the_tail_of_a_run_is_skipped_and_a_valid_book_seeing_one_is_invalidated() {
        let run = run(&SEVEN, 42);
        let mut b = Book::new(BookConfig::with_depth(10));
        for e in &run[3..] {
            let effect = b.apply_event(e).unwrap();
            assert_eq!(effect, EventEffect::Skipped);
            assert!(!b.is_valid());
        }
        assert_eq!((b.bid_len(), b.ask_len()), (0, 0));
        for e in &run {
            b.apply_event(e).unwrap();
        }
        assert!(b.is_valid());
        // A run's middle with no start, even without an Overflow before it: not whole.
        assert_eq!(b.apply_event(&run[2]).unwrap(), EventEffect::Skipped);
        assert!(!b.is_valid());
    }

    /// After an Overflow, a diff run whose start was not seen never makes the book valid;
    /// nor does a snapshot run broken by a diff, or by an Overflow inside it.
    #[test]
    fn diff_tails_and_broken_runs_after_an_overflow_leave_the_book_invalid() {
        let whole = run(&SEVEN, 42);
        let mut b = Book::new(BookConfig::with_depth(10));
        for e in &whole {
            b.apply_event(e).unwrap();
        }
        assert!(b.is_valid());
        // A diff run of three: its first two are dropped, the consumer sees the overflow and
        // the last one.
        let last_diff = level_event(Side::Sell, "101", "0", Flags::LAST_IN_BATCH, 43);
        assert_eq!(
            b.apply_event(&overflow_event()).unwrap(),
            EventEffect::Invalidated
        );
        b.apply_event(&last_diff).unwrap();
        assert!(!b.is_valid());
        // A run broken by an Overflow inside it.
        for e in &whole[..3] {
            b.apply_event(e).unwrap();
        }
        b.apply_event(&overflow_event()).unwrap();
        for e in &whole[3..] {
            b.apply_event(e).unwrap();
        }
        assert!(!b.is_valid());
        // A run broken by a diff level.
        for e in &whole[..3] {
            b.apply_event(e).unwrap();
        }
        b.apply_event(&level_event(Side::Buy, "97", "1", Flags::EMPTY, 43))
            .unwrap();
        for e in &whole[3..] {
            b.apply_event(e).unwrap();
        }
        assert!(!b.is_valid());
        // A run restarted by a new RUN_START: the restart is what counts.
        for e in whole[..2].iter().chain(&whole) {
            b.apply_event(e).unwrap();
        }
        assert!(b.is_valid());
        assert_eq!((b.bid_len(), b.ask_len()), (3, 4));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(bool, i64, i64),
        Clear,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        (prop_oneof![Just(12i64), Just(60), Just(400)], 0i64..4).prop_flat_map(
            |(range, zero_bias)| {
                proptest::collection::vec(
                    prop_oneof![
                        40 => (any::<bool>(), 0..range, 0i64..4 + zero_bias)
                            .prop_map(move |(s, p, q)| Op::Set(s, p, (q - zero_bias).max(0))),
                        1 => Just(Op::Clear),
                    ],
                    0..800,
                )
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Against a BTreeMap model with the same truncation rule.
        #[test]
        fn matches_a_model(ops in ops(), depth in prop_oneof![1usize..8, 8usize..64, Just(1000)]) {
            let mut b = Book::new(BookConfig { depth, price_scale: Some(0), qty_scale: Some(0) });
            let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
            let mut asks: BTreeMap<i64, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Clear => { b.clear(); bids.clear(); asks.clear(); }
                    Op::Set(is_bid, p, q) => {
                        let side = if is_bid { Side::Buy } else { Side::Sell };
                        b.apply_mantissas(side, p, q).unwrap();
                        // Model: key ordering where larger = better.
                        let (m, key) = if is_bid { (&mut bids, p) } else { (&mut asks, -p) };
                        if q == 0 {
                            m.remove(&key);
                        } else if let Some(v) = m.get_mut(&key) {
                            *v = q;
                        } else if m.len() < depth {
                            m.insert(key, q);
                        } else if m.keys().next().is_some_and(|&w| key > w) {
                            let w = *m.keys().next().unwrap();
                            m.remove(&w);
                            m.insert(key, q);
                        }
                    }
                }
                let got_b: Vec<_> = b.bids(usize::MAX).map(|(p, q)| (p.mantissa(), q.mantissa())).collect();
                let want_b: Vec<_> = bids.iter().rev().map(|(&k, &q)| (k, q)).collect();
                prop_assert_eq!(got_b, want_b);
                let got_a: Vec<_> = b.asks(usize::MAX).map(|(p, q)| (p.mantissa(), q.mantissa())).collect();
                let want_a: Vec<_> = asks.iter().rev().map(|(&k, &q)| (-k, q)).collect();
                prop_assert_eq!(got_a, want_a);
                prop_assert_eq!((b.bid_len(), b.ask_len()), (bids.len(), asks.len()));
                prop_assert_eq!(b.best_bid().map(|l| l.0.mantissa()), bids.keys().next_back().copied());
                prop_assert_eq!(b.best_ask().map(|l| l.0.mantissa()), asks.keys().next_back().map(|k| -k));
            }
        }
    }

    /// Prices for the grid-aware model test: mostly on a tick grid around a drifting centre,
    /// some off the grid, some far away or at the ends of the range.
    #[derive(Debug, Clone)]
    enum Op2 {
        Set(bool, u8, i64, i64, i64),
        Drift(i64),
        Clear,
    }

    fn ops2() -> impl Strategy<Value = (i64, Vec<Op2>)> {
        let tick = prop_oneof![Just(1i64), Just(10), Just(1_000_000), Just(7)];
        let op = prop_oneof![
            60 => (any::<bool>(), 0u8..100, -400i64..400, 0i64..1000, 0i64..6)
                .prop_map(|(s, kind, k, r, q)| Op2::Set(s, kind, k, r, (q - 2).max(0))),
            2 => (-20_000i64..20_000).prop_map(Op2::Drift),
            1 => Just(Op2::Clear),
        ];
        (tick, proptest::collection::vec(op, 0..600))
    }

    fn price2(tick: i64, centre: i64, kind: u8, k: i64, r: i64) -> i64 {
        match kind {
            // Off the grid near the top.
            0..=3 => centre + k * tick + r % tick.max(2),
            // Far away on either side.
            4..=6 => centre + (k * 1_000_003 + r) * tick,
            7 => [i64::MAX, i64::MIN, i64::MIN + 1, i64::MAX - 1, 0, -1][r as usize % 6],
            // Near the top on the grid.
            _ => centre + (k / 4) * tick,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Against a BTreeMap model, with every change's outcome and the counters: grid moves
        /// (drifting top), off-grid and far prices, truncation.
        #[test]
        fn matches_a_model_with_outcomes(
            (tick, ops) in ops2(),
            depth in prop_oneof![1usize..8, 8usize..64, 64usize..300, Just(2000)],
        ) {
            let mut b = Book::new(BookConfig { depth, price_scale: Some(0), qty_scale: Some(0) });
            let mut bids: BTreeMap<i128, i64> = BTreeMap::new();
            let mut asks: BTreeMap<i128, i64> = BTreeMap::new();
            let mut stats = BookStats::default();
            let mut centre = 5_000_000i64 * tick;
            for op in ops {
                match op {
                    Op2::Clear => { b.clear(); bids.clear(); asks.clear(); }
                    Op2::Drift(d) => centre += d * tick,
                    Op2::Set(is_bid, kind, k, r, q) => {
                        let p = price2(tick, centre, kind, k, r);
                        let side = if is_bid { Side::Buy } else { Side::Sell };
                        let got = b.apply_mantissas(side, p, q).unwrap();
                        // Model: key ordering where larger = better.
                        let (m, key) = if is_bid { (&mut bids, i128::from(p)) } else { (&mut asks, -i128::from(p)) };
                        let want = if q == 0 {
                            if m.remove(&key).is_some() { Change::Deleted } else {
                                stats.unknown_deletes += 1;
                                Change::DeleteUnknown
                            }
                        } else if let Some(v) = m.get_mut(&key) {
                            *v = q;
                            Change::Updated
                        } else if m.len() < depth {
                            m.insert(key, q);
                            Change::Inserted
                        } else {
                            stats.dropped_levels += 1;
                            let w = *m.keys().next().unwrap();
                            if key > w {
                                m.remove(&w);
                                m.insert(key, q);
                                Change::Inserted
                            } else {
                                Change::DroppedBeyondDepth
                            }
                        };
                        prop_assert_eq!(got, want, "{:?} {} {}", side, p, q);
                    }
                }
                prop_assert_eq!(b.stats(), stats);
                let got_b: Vec<_> = b.bids(usize::MAX).map(|(p, q)| (i128::from(p.mantissa()), q.mantissa())).collect();
                let want_b: Vec<_> = bids.iter().rev().map(|(&k, &q)| (k, q)).collect();
                prop_assert_eq!(got_b, want_b);
                let got_a: Vec<_> = b.asks(usize::MAX).map(|(p, q)| (i128::from(p.mantissa()), q.mantissa())).collect();
                let want_a: Vec<_> = asks.iter().rev().map(|(&k, &q)| (-k, q)).collect();
                prop_assert_eq!(got_a, want_a);
                prop_assert_eq!((b.bid_len(), b.ask_len()), (bids.len(), asks.len()));
                let best_b = bids.iter().next_back().map(|(&k, &q)| (k, q));
                prop_assert_eq!(b.best_bid().map(|l| (i128::from(l.0.mantissa()), l.1.mantissa())), best_b);
                let best_a = asks.iter().next_back().map(|(&k, &q)| (-k, q));
                prop_assert_eq!(b.best_ask().map(|l| (i128::from(l.0.mantissa()), l.1.mantissa())), best_a);
                let top = b.top_mantissas();
                prop_assert_eq!(top.0.map(i128::from), best_b.map(|l| l.0));
                prop_assert_eq!(top.1.map(i128::from), best_a.map(|l| l.0));
                prop_assert_eq!(b.bids(3).count(), bids.len().min(3));
            }
        }
    }
}
