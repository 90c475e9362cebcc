//! OKX's book checksum (venues.md §6, historical since 2026-06: checked when non-zero):
//! the best 25 bids and 25 asks interleaved `bidPx:bidSz:askPx:askSz:...` (a side that runs
//! out leaves the other's levels to continue alone), joined by `:`, zlib CRC32 read as a
//! signed int32.
//!
//! OKX hashes its own strings; the book keeps exact decimals, so each value is rendered in
//! OKX's text form: plain decimal, no exponent, **no trailing fractional zeros and no
//! trailing point** (`3366`, `3366.1`, `0.0001`). Both documented vectors (`3366`, `3366.1`)
//! and every price and size in the 2022 cryptofeed capture are written that way. A venue
//! string with trailing zeros (`3366.10`) would hash differently from what we render and
//! give a checksum failure and a resync, never a silently wrong book.

use tickwire_engine::Decimal;
use tickwire_engine::book::Book;

/// Levels per side that enter the checksum.
pub const CHECKSUM_DEPTH: usize = 25;

/// Feeds text to a CRC32 through a stack buffer (no allocation).
struct Sink {
    hasher: crc32fast::Hasher,
    buf: [u8; 512],
    len: usize,
    first: bool,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            hasher: crc32fast::Hasher::new(),
            buf: [0; 512],
            len: 0,
            first: true,
        }
    }

    #[inline]
    fn value(&mut self, d: Decimal) {
        let mut text = [0u8; 48];
        let s = d.normalize().write_to(&mut text).as_bytes();
        if self.len + s.len() + 1 > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
        }
        if !self.first {
            self.buf[self.len] = b':';
            self.len += 1;
        }
        self.first = false;
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    fn finish(mut self) -> i32 {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.finalize() as i32
    }
}

/// The checksum of `bids` (best first) and `asks` (best first), as OKX computes it (only the
/// first [`CHECKSUM_DEPTH`] of each are read).
pub fn checksum_of(
    bids: impl Iterator<Item = (Decimal, Decimal)>,
    asks: impl Iterator<Item = (Decimal, Decimal)>,
) -> i32 {
    let mut sink = Sink::new();
    let mut bids = bids.take(CHECKSUM_DEPTH);
    let mut asks = asks.take(CHECKSUM_DEPTH);
    loop {
        let (b, a) = (bids.next(), asks.next());
        if b.is_none() && a.is_none() {
            break;
        }
        for (p, q) in b.into_iter().chain(a) {
            sink.value(p);
            sink.value(q);
        }
    }
    sink.finish()
}

/// The checksum of `book`'s top 25 levels a side (see [`checksum_of`]). No allocation.
pub fn book_checksum(book: &Book) -> i32 {
    checksum_of(book.bids(CHECKSUM_DEPTH), book.asks(CHECKSUM_DEPTH))
}
