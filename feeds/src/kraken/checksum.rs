//! Kraken's book checksum (venues.md §4, v2 and v1 share the recipe): the top 10 asks
//! (price ascending) then the top 10 bids (price descending); each price rendered at the
//! pair's price precision and each quantity at its qty precision, the `.` deleted and the
//! leading zeros stripped, all concatenated; zlib CRC32, compared as a u32.
//!
//! A value rendered at precision `p` without its point and leading zeros is the decimal
//! digits of its mantissa at scale `p` (zero renders as nothing), so the book's exact
//! decimals are written straight from their mantissas: no float, no exponent notation
//! (venues.md §12: the usual cause of failures elsewhere).
//!
//! The precision comes from the `instrument` channel when it was subscribed, else from the
//! book itself: the book keeps the finest scale it has seen, and Kraken prints numbers at the
//! pair's full precision (`1797.30`, `0.01780330`), so that scale is the precision once a
//! snapshot's text has shown it.

use tickwire_engine::Decimal;
use tickwire_engine::book::Book;

/// Levels per side that enter the checksum.
pub const CHECKSUM_DEPTH: usize = 10;

/// Feeds digits to a CRC32 through a stack buffer (no allocation).
struct Sink {
    hasher: crc32fast::Hasher,
    buf: [u8; 512],
    len: usize,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            hasher: crc32fast::Hasher::new(),
            buf: [0; 512],
            len: 0,
        }
    }

    /// Appends `d` at `precision`: the digits of its mantissa at that scale. A value with
    /// more decimals than the precision (the precision is wrong) is written at its own
    /// scale: the checksum then fails, as it should.
    #[inline]
    fn value(&mut self, d: Decimal, precision: u8) {
        let m = d.mantissa_at(precision).unwrap_or_else(|_| d.mantissa());
        let mut digits = [0u8; 20];
        let mut pos = digits.len();
        let mut v = m.unsigned_abs();
        while v > 0 {
            pos -= 1;
            digits[pos] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let s = &digits[pos..];
        if self.len + s.len() > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    fn finish(mut self) -> u32 {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.finalize()
    }
}

/// The checksum of `asks` (best first) and `bids` (best first) at the pair's `price` and
/// `qty` precisions (only the first [`CHECKSUM_DEPTH`] of each are read).
pub fn checksum_of(
    asks: impl Iterator<Item = (Decimal, Decimal)>,
    bids: impl Iterator<Item = (Decimal, Decimal)>,
    price: u8,
    qty: u8,
) -> u32 {
    let mut sink = Sink::new();
    for (p, q) in asks.take(CHECKSUM_DEPTH).chain(bids.take(CHECKSUM_DEPTH)) {
        sink.value(p, price);
        sink.value(q, qty);
    }
    sink.finish()
}

/// The checksum of `book`'s top 10 a side at `precision` (price, qty), or at the scales the
/// book learned from the wire when `None`. No allocation.
pub fn book_checksum(book: &Book, precision: Option<(u8, u8)>) -> u32 {
    let (price, qty) = precision.unwrap_or((
        book.price_scale().unwrap_or(0),
        book.qty_scale().unwrap_or(0),
    ));
    checksum_of(
        book.asks(CHECKSUM_DEPTH),
        book.bids(CHECKSUM_DEPTH),
        price,
        qty,
    )
}
