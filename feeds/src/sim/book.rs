//! The simulator's L2 book: price and quantity as integer units (see [`super::SymbolSpec`]).
//! Only the venue model uses it, off the send path (tape construction and REST snapshots).

use std::collections::BTreeMap;

/// A side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BookSide {
    /// Buy orders, best = highest price.
    Bid,
    /// Sell orders, best = lowest price.
    Ask,
}

/// One price level: `(price, quantity)` in integer units.
pub type Level = (u64, u64);

/// An L2 book. A quantity of zero is never stored: setting zero deletes the level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

impl Book {
    fn side(&self, side: BookSide) -> &BTreeMap<u64, u64> {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    /// Sets a level's absolute quantity (zero deletes it); returns the previous quantity.
    pub fn set(&mut self, side: BookSide, price: u64, qty: u64) -> u64 {
        let map = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        let old = if qty == 0 {
            map.remove(&price)
        } else {
            map.insert(price, qty)
        };
        old.unwrap_or(0)
    }

    /// The quantity at `price` (zero if no level).
    pub fn qty(&self, side: BookSide, price: u64) -> u64 {
        self.side(side).get(&price).copied().unwrap_or(0)
    }

    /// Number of levels on a side.
    pub fn len(&self, side: BookSide) -> usize {
        self.side(side).len()
    }

    /// True when both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// Best bid (highest).
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.iter().next_back().map(|(p, q)| (*p, *q))
    }

    /// Best ask (lowest).
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.iter().next().map(|(p, q)| (*p, *q))
    }

    /// Bids from the best (highest) down.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().rev().map(|(p, q)| (*p, *q))
    }

    /// Asks from the best (lowest) up.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(p, q)| (*p, *q))
    }

    /// Levels of one side from the best outwards.
    pub fn levels(&self, side: BookSide) -> Box<dyn Iterator<Item = Level> + '_> {
        match side {
            BookSide::Bid => Box::new(self.bids()),
            BookSide::Ask => Box::new(self.asks()),
        }
    }

    /// The `n`-th level from the best (0 = best).
    pub fn nth(&self, side: BookSide, n: usize) -> Option<Level> {
        self.levels(side).nth(n)
    }

    /// The level farthest from the best.
    pub fn worst(&self, side: BookSide) -> Option<Level> {
        match side {
            BookSide::Bid => self.bids.iter().next().map(|(p, q)| (*p, *q)),
            BookSide::Ask => self.asks.iter().next_back().map(|(p, q)| (*p, *q)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_returns_old_and_zero_deletes() {
        let mut b = Book::default();
        assert_eq!(b.set(BookSide::Bid, 100, 5), 0);
        assert_eq!(b.set(BookSide::Bid, 101, 7), 0);
        assert_eq!(b.set(BookSide::Bid, 100, 6), 5);
        assert_eq!(b.best_bid(), Some((101, 7)));
        assert_eq!(b.set(BookSide::Bid, 101, 0), 7);
        assert_eq!(b.best_bid(), Some((100, 6)));
        assert_eq!(b.set(BookSide::Ask, 110, 1), 0);
        assert_eq!(b.set(BookSide::Ask, 105, 1), 0);
        assert_eq!(b.best_ask(), Some((105, 1)));
        assert_eq!(b.worst(BookSide::Ask), Some((110, 1)));
        assert_eq!(b.nth(BookSide::Ask, 1), Some((110, 1)));
        assert_eq!(b.len(BookSide::Bid), 1);
    }
}
