//! The price-indexed window of one book side: one quantity slot per tick over a fixed range
//! of keys, a bitmap of occupied slots and a summary bitmap of non-empty bitmap words.
//!
//! Slot `i` holds key `base + i * tick`. Finding a key's slot is an exact division by the
//! tick, done as a multiply by the tick's odd part's inverse modulo 2^64 (no `div`), which
//! also tells whether the key is on the grid. The highest occupied slot is kept; the next one
//! below is found through the two bitmap levels in a few word reads.

use super::prefaulted;

/// Slots per summary bit.
const WORD: usize = 64;

/// A tick-grid window over keys `base .. base + slots * tick` (keys ascend with quality).
#[derive(Clone, Debug)]
pub(super) struct Grid {
    /// Index into `pool` per slot; meaningful only where the slot's bit is set. Two bytes a
    /// slot rather than eight keeps the grid's hot memory a quarter of the size.
    slot_qty: Box<[u16]>,
    /// Quantities of the occupied slots.
    pool: Box<[i64]>,
    /// Freed `pool` entries (a stack, so a freed entry is reused while still cached).
    free: Box<[u16]>,
    nfree: usize,
    /// `pool` entries below this have been handed out at least once.
    fresh: usize,
    /// Bit `i % 64` of word `i / 64`: slot `i` is occupied.
    bits: Box<[u64]>,
    /// Bit `w % 64` of word `w / 64`: `bits[w]` is not zero.
    summary: Box<[u64]>,
    /// Key of slot 0.
    base: i64,
    /// Key distance between slots; 0 while unknown (the grid then holds nothing).
    tick: u64,
    /// `tick` = `odd << shift`.
    shift: u32,
    /// Low bits a key offset must have clear to be on the grid.
    low_mask: u64,
    /// Inverse of the tick's odd part modulo 2^64.
    inv: u64,
    /// Largest quotient that is both an exact multiple and a slot.
    max_q: u64,
    /// Occupied slots.
    live: usize,
    /// Highest occupied slot (when `live > 0`).
    top: usize,
}

impl Grid {
    /// A grid of `slots` (a power of two, at least 64, at most 2^16) with no tick yet, for a
    /// side that never holds more than `capacity` levels.
    pub(super) fn new(slots: usize, capacity: usize) -> Grid {
        debug_assert!(slots.is_power_of_two() && (WORD..=1 << 16).contains(&slots));
        let words = slots / WORD;
        // Occupied slots are distinct and at most `capacity`.
        let pool = capacity.clamp(1, slots);
        Grid {
            slot_qty: prefaulted(slots, u16::MAX),
            pool: prefaulted(pool, -1),
            free: prefaulted(pool, u16::MAX),
            nfree: 0,
            fresh: 0,
            bits: prefaulted(words, 0),
            summary: prefaulted(words.div_ceil(WORD), 0),
            base: 0,
            tick: 0,
            shift: 0,
            low_mask: 0,
            inv: 0,
            max_q: 0,
            live: 0,
            top: 0,
        }
    }

    /// A grid of no slots (a side with no storage yet): no tick, so it holds nothing.
    pub(super) fn empty() -> Grid {
        Grid {
            slot_qty: Box::new([]),
            pool: Box::new([]),
            free: Box::new([]),
            nfree: 0,
            fresh: 0,
            bits: Box::new([]),
            summary: Box::new([]),
            base: 0,
            tick: 0,
            shift: 0,
            low_mask: 0,
            inv: 0,
            max_q: 0,
            live: 0,
            top: 0,
        }
    }

    /// Bytes of heap behind the grid.
    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slot_qty)
            + std::mem::size_of_val(&*self.pool)
            + std::mem::size_of_val(&*self.free)
            + std::mem::size_of_val(&*self.bits)
            + std::mem::size_of_val(&*self.summary)
    }

    /// Forgets the (empty) grid's tick: it holds nothing until placed again.
    pub(super) fn unplace(&mut self) {
        debug_assert!(self.live == 0);
        self.tick = 0;
        self.shift = 0;
        self.low_mask = 0;
        self.inv = 0;
        self.max_q = 0;
        self.base = 0;
    }

    /// Applies `f` to the quantity of every occupied slot.
    pub(super) fn map_qtys(&mut self, f: impl Fn(i64) -> i64) {
        let mut at = self.top();
        while let Some(i) = at {
            let p = usize::from(self.slot_qty[i]);
            self.pool[p] = f(self.pool[p]);
            at = self.below(i);
        }
    }

    /// Number of slots.
    #[inline]
    pub(super) fn slots(&self) -> usize {
        self.slot_qty.len()
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.live
    }

    #[inline]
    pub(super) fn tick(&self) -> u64 {
        self.tick
    }

    #[inline]
    pub(super) fn base(&self) -> i64 {
        self.base
    }

    /// Highest occupied slot.
    #[inline]
    pub(super) fn top(&self) -> Option<usize> {
        (self.live > 0).then_some(self.top)
    }

    /// Moves the (empty) grid to slot 0 = `base` and slot distance `tick` (> 0).
    pub(super) fn place(&mut self, base: i64, tick: u64) {
        debug_assert!(self.live == 0 && tick > 0);
        let shift = tick.trailing_zeros();
        let odd = tick >> shift;
        // Newton's iteration doubles the correct low bits each step: 3 -> 6 -> ... -> 96.
        let mut inv = odd;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
        }
        debug_assert_eq!(odd.wrapping_mul(inv), 1);
        self.base = base;
        self.tick = tick;
        self.shift = shift;
        self.low_mask = (1u64 << shift) - 1;
        self.inv = inv;
        // Quotients up to u64::MAX / odd are exactly the images of multiples of `odd`.
        self.max_q = (u64::MAX / odd).min(self.slots() as u64 - 1);
    }

    /// The slot of `key`, if the grid has a tick and `key` is on it within range.
    #[inline]
    pub(super) fn slot(&self, key: i64) -> Option<usize> {
        if self.tick == 0 || key < self.base {
            return None;
        }
        let off = (key as u64).wrapping_sub(self.base as u64);
        let q = (off >> self.shift).wrapping_mul(self.inv);
        (off & self.low_mask == 0 && q <= self.max_q).then_some(q as usize)
    }

    /// The key of slot `i`.
    #[inline]
    pub(super) fn key(&self, i: usize) -> i64 {
        self.base
            .wrapping_add((i as u64).wrapping_mul(self.tick) as i64)
    }

    /// Whether slot `i` is occupied.
    #[inline]
    pub(super) fn occupied(&self, i: usize) -> bool {
        self.bits[i / WORD] >> (i % WORD) & 1 != 0
    }

    /// Writes slot `i`: occupied with `qty` when `now`, emptied otherwise; `was` is whether
    /// it was occupied.
    #[inline]
    pub(super) fn write(&mut self, i: usize, qty: i64, was: bool, now: bool) {
        match (was, now) {
            (true, true) => self.pool[usize::from(self.slot_qty[i])] = qty,
            (true, false) => self.remove(i),
            (false, true) => self.insert(i, qty),
            (false, false) => {}
        }
    }

    /// The quantity of occupied slot `i`.
    #[inline]
    pub(super) fn qty(&self, i: usize) -> i64 {
        self.pool[usize::from(self.slot_qty[i])]
    }

    /// Occupies empty slot `i`.
    #[inline]
    pub(super) fn insert(&mut self, i: usize, qty: i64) {
        let w = i / WORD;
        let p = if self.nfree > 0 {
            self.nfree -= 1;
            usize::from(self.free[self.nfree])
        } else {
            self.fresh += 1;
            self.fresh - 1
        };
        self.pool[p] = qty;
        // `p` < pool size <= slots <= 2^16.
        self.slot_qty[i] = p as u16;
        self.bits[w] |= 1 << (i % WORD);
        self.summary[w / WORD] |= 1 << (w % WORD);
        if self.live == 0 || i > self.top {
            self.top = i;
        }
        self.live += 1;
    }

    /// Empties occupied slot `i`.
    #[inline]
    pub(super) fn remove(&mut self, i: usize) {
        let w = i / WORD;
        self.free[self.nfree] = self.slot_qty[i];
        self.nfree += 1;
        self.bits[w] &= !(1 << (i % WORD));
        if self.bits[w] == 0 {
            self.summary[w / WORD] &= !(1 << (w % WORD));
        }
        self.live -= 1;
        if i == self.top && self.live > 0 {
            self.top = self.below(i).unwrap_or(0);
        }
    }

    /// The highest occupied slot below `i`.
    #[inline]
    pub(super) fn below(&self, i: usize) -> Option<usize> {
        let w = i / WORD;
        let m = self.bits[w] & ((1u64 << (i % WORD)) - 1);
        if m != 0 {
            return Some(w * WORD + highest(m));
        }
        let mut sw = w / WORD;
        let mut s = self.summary[sw] & ((1u64 << (w % WORD)) - 1);
        loop {
            if s != 0 {
                let word = sw * WORD + highest(s);
                return Some(word * WORD + highest(self.bits[word]));
            }
            if sw == 0 {
                return None;
            }
            sw -= 1;
            s = self.summary[sw];
        }
    }

    /// The lowest occupied slot.
    pub(super) fn bottom(&self) -> Option<usize> {
        let (sw, s) = self.summary.iter().enumerate().find(|(_, s)| **s != 0)?;
        let word = sw * WORD + s.trailing_zeros() as usize;
        Some(word * WORD + self.bits[word].trailing_zeros() as usize)
    }

    /// The lowest occupied slot above `i`.
    fn above(&self, i: usize) -> Option<usize> {
        let i = i + 1;
        if i >= self.slots() {
            return None;
        }
        let w = i / WORD;
        let m = self.bits[w] & (u64::MAX << (i % WORD));
        if m != 0 {
            return Some(w * WORD + m.trailing_zeros() as usize);
        }
        let w = w + 1;
        let mut sw = w / WORD;
        if sw >= self.summary.len() {
            return None;
        }
        let mut s = self.summary[sw] & (u64::MAX << (w % WORD));
        loop {
            if s != 0 {
                let word = sw * WORD + s.trailing_zeros() as usize;
                return Some(word * WORD + self.bits[word].trailing_zeros() as usize);
            }
            sw += 1;
            if sw >= self.summary.len() {
                return None;
            }
            s = self.summary[sw];
        }
    }

    /// Empties every slot (the placement is kept); costs the non-empty bitmap words.
    pub(super) fn clear(&mut self) {
        for sw in 0..self.summary.len() {
            let mut s = self.summary[sw];
            while s != 0 {
                self.bits[sw * WORD + s.trailing_zeros() as usize] = 0;
                s &= s - 1;
            }
            self.summary[sw] = 0;
        }
        self.live = 0;
        self.top = 0;
        self.nfree = 0;
        self.fresh = 0;
    }

    /// Occupied (key, qty) from the highest slot down.
    pub(super) fn iter_desc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        std::iter::successors(self.top(), |&i| self.below(i)).map(|i| (self.key(i), self.qty(i)))
    }

    /// Occupied (key, qty) from the lowest slot up.
    pub(super) fn iter_asc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        std::iter::successors(self.bottom(), |&i| self.above(i)).map(|i| (self.key(i), self.qty(i)))
    }
}

/// Index of the highest set bit of a non-zero word.
#[inline]
fn highest(m: u64) -> usize {
    (WORD - 1) - m.leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_division_finds_slots_and_rejects_off_grid_keys() {
        for tick in [1u64, 2, 3, 10, 1_000_000, 999_983, 1 << 40] {
            let mut g = Grid::new(128, 128);
            g.place(-7, tick);
            let t = tick as i64;
            for i in 0..128i64 {
                assert_eq!(g.slot(-7 + i * t), Some(i as usize), "tick {tick} slot {i}");
                assert_eq!(g.key(i as usize), -7 + i * t);
                if tick > 1 {
                    assert_eq!(g.slot(-7 + i * t + 1), None);
                }
            }
            assert_eq!(g.slot(-7 + 128 * t), None);
            assert_eq!(g.slot(-8), None);
            assert_eq!(g.slot(i64::MIN), None);
        }
    }

    #[test]
    fn bitmaps_track_top_bottom_and_order() {
        let mut g = Grid::new(1 << 14, 100);
        g.place(0, 1);
        let slots = [0usize, 5, 63, 64, 4095, 4096, 9000, 16383];
        for &s in &slots {
            g.insert(s, s as i64 + 1);
        }
        assert_eq!(g.top(), Some(16383));
        assert_eq!(g.bottom(), Some(0));
        let desc: Vec<_> = g.iter_desc().map(|(k, _)| k as usize).collect();
        let mut want = slots.to_vec();
        want.reverse();
        assert_eq!(desc, want);
        let asc: Vec<_> = g.iter_asc().map(|(k, _)| k as usize).collect();
        assert_eq!(asc, slots);
        for &s in want.iter() {
            assert_eq!(g.top(), Some(s));
            g.remove(s);
        }
        assert_eq!(g.top(), None);
        assert_eq!(g.bottom(), None);
        g.insert(77, 1);
        g.clear();
        assert_eq!(g.iter_asc().count(), 0);
        assert!(!g.occupied(77));
    }
}
