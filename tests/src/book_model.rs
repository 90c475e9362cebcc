//! A venue-neutral book model for the replay tests' generators: the venue's book as integer
//! prices and sizes at fixed decimal scales (ticks and lots), kept in `BTreeMap`s apart from
//! anything the engine computes, rendered by each venue's generator to its own messages,
//! and compared level for level with the book a consumer rebuilt from the published events.

use std::collections::BTreeMap;

use tickwire_engine::Decimal;
use tickwire_engine::book::Book;
use tickwire_engine::event::Side;

/// Levels, best first, as `(price, quantity)`.
pub type Levels = Vec<(Decimal, Decimal)>;

/// One instrument's book as the venue holds it: price ticks to sizes in lots (never 0: a
/// level set to 0 is gone), at `10^-price_scale` and `10^-qty_scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookModel {
    /// Bids: price → size.
    pub bids: BTreeMap<i64, i64>,
    /// Asks: price → size.
    pub asks: BTreeMap<i64, i64>,
    price_scale: u8,
    qty_scale: u8,
}

impl BookModel {
    /// An empty book whose prices are in units of `10^-price_scale` and sizes of
    /// `10^-qty_scale`.
    pub fn new(price_scale: u8, qty_scale: u8) -> BookModel {
        BookModel {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            price_scale,
            qty_scale,
        }
    }

    /// Sets one level as a venue's diff does: size 0 removes it.
    pub fn set(&mut self, side: Side, price: i64, qty: i64) {
        let levels = match side {
            Side::Buy => &mut self.bids,
            _ => &mut self.asks,
        };
        if qty == 0 {
            levels.remove(&price);
        } else {
            levels.insert(price, qty);
        }
    }

    /// Empties both sides.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Bids, best (highest) first, in ticks and lots.
    pub fn bids_best_first(&self) -> Vec<(i64, i64)> {
        self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect()
    }

    /// Asks, best (lowest) first, in ticks and lots.
    pub fn asks_best_first(&self) -> Vec<(i64, i64)> {
        self.asks.iter().map(|(p, q)| (*p, *q)).collect()
    }

    /// Both sides as decimals, best first.
    pub fn sides(&self) -> (Levels, Levels) {
        let d = |levels: Vec<(i64, i64)>| -> Levels {
            levels
                .into_iter()
                .map(|(p, q)| {
                    (
                        Decimal::from_parts(p, self.price_scale),
                        Decimal::from_parts(q, self.qty_scale),
                    )
                })
                .collect()
        };
        (d(self.bids_best_first()), d(self.asks_best_first()))
    }

    /// Panics unless `book` (a consumer's, or the handler's validating book) is valid and
    /// holds exactly these levels, whatever their depth.
    #[track_caller]
    pub fn assert_matches(&self, book: &Book) {
        assert!(book.is_valid(), "the book is not valid");
        let (bids, asks) = self.sides();
        assert_eq!(book.bids(usize::MAX).collect::<Vec<_>>(), bids, "bids");
        assert_eq!(book.asks(usize::MAX).collect::<Vec<_>>(), asks, "asks");
    }
}

/// Asserts that `book` (a consumer's copy of `name`'s book) equals the simulator venue's model
/// book at the update it last applied: its last update id is one the model's stream reaches,
/// and every level on both sides matches the model's there.
pub fn assert_matches_sim(venue: &dyn tickwire_feeds::sim::SimVenue, name: &str, book: &Book) {
    let sym = venue
        .symbol_index(name)
        .unwrap_or_else(|| panic!("{name} is not one of the simulator's symbols"));
    let spec = venue.spec(sym).clone();
    let seq = book.seq();
    // The first event after which the model's last update id is `seq`.
    let (mut lo, mut hi) = (0u64, 1u64 << 40);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if venue.update_id_at(sym, mid) >= seq {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    assert_eq!(
        venue.update_id_at(sym, lo),
        seq,
        "{name}: update id {seq} is one of the model's"
    );
    let model = venue.book_at(sym, lo);
    let d = |v: u64, s: u8| Decimal::from_parts(v as i64, s);
    let bids: Levels = model
        .bids()
        .map(|(p, q)| (d(p, spec.price_decimals), d(q, spec.qty_decimals)))
        .collect();
    let asks: Levels = model
        .asks()
        .map(|(p, q)| (d(p, spec.price_decimals), d(q, spec.qty_decimals)))
        .collect();
    assert_eq!(
        book.bids(usize::MAX).collect::<Levels>(),
        bids,
        "{name} bids"
    );
    assert_eq!(
        book.asks(usize::MAX).collect::<Levels>(),
        asks,
        "{name} asks"
    );
}

/// Asserts that `book` (a consumer's copy of `name`'s book) equals the simulator venue's
/// model book after one of `events` (global event numbers, e.g. the last second or two of
/// the stream): for a venue whose update ids are numbered per connection (Coinbase's
/// `sequence_num`), a book cannot be placed in the model's stream by its id, only by its
/// levels. A book that missed an update matches no state of the window. `depth`: levels a
/// side compared (a venue whose books are cut at a subscribed depth, Kraken), `usize::MAX`
/// for all.
pub fn assert_matches_sim_within(
    venue: &dyn tickwire_feeds::sim::SimVenue,
    name: &str,
    book: &Book,
    events: std::ops::Range<u64>,
    depth: usize,
) {
    let sym = venue
        .symbol_index(name)
        .unwrap_or_else(|| panic!("{name} is not one of the simulator's symbols"));
    let spec = venue.spec(sym).clone();
    let d = |v: u64, s: u8| Decimal::from_parts(v as i64, s);
    let bids: Levels = book.bids(depth).collect();
    let asks: Levels = book.asks(depth).collect();
    let found = events.clone().any(|e| {
        let model = venue.book_at(sym, e);
        model
            .bids()
            .take(depth)
            .map(|(p, q)| (d(p, spec.price_decimals), d(q, spec.qty_decimals)))
            .eq(bids.iter().copied())
            && model
                .asks()
                .take(depth)
                .map(|(p, q)| (d(p, spec.price_decimals), d(q, spec.qty_decimals)))
                .eq(asks.iter().copied())
    });
    assert!(
        found,
        "{name}: the book ({} bids, {} asks, best {:?} / {:?}) is no state of the venue's \
         between events {events:?}",
        bids.len(),
        asks.len(),
        bids.first(),
        asks.first()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::book::BookConfig;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn levels_are_set_removed_and_compared_by_value() {
        let mut m = BookModel::new(1, 3);
        m.set(Side::Buy, 299_995, 500);
        m.set(Side::Buy, 299_990, 1_000);
        m.set(Side::Sell, 300_000, 2_345);
        m.set(Side::Sell, 300_001, 7);
        m.set(Side::Sell, 300_001, 0);
        assert_eq!(m.bids_best_first(), [(299_995, 500), (299_990, 1_000)]);
        let (bids, asks) = m.sides();
        assert_eq!(bids, [(d("29999.5"), d("0.5")), (d("29999"), d("1"))]);
        assert_eq!(asks, [(d("30000"), d("2.345"))]);
        // A book holding the same values, written as a venue writes them, matches.
        let mut book = Book::new(BookConfig::with_depth(10));
        for (side, p, q) in [
            (Side::Buy, "29999.5", "0.5"),
            (Side::Buy, "29999", "1.000"),
            (Side::Sell, "30000.0", "2.345"),
        ] {
            book.apply(side, d(p), d(q)).unwrap();
        }
        book.set_valid(1);
        m.assert_matches(&book);
        m.clear();
        assert!(m.sides().0.is_empty() && m.sides().1.is_empty());
    }
}
