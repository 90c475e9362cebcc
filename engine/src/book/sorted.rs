//! The sorted array that holds the levels a side's grid cannot: ascending keys with the best
//! at the high end, in the middle of a buffer twice the capacity.
//!
//! A delete leaves a tombstone (quantity 0) in place, so it moves nothing; an insert reuses a
//! tombstone next to (or a few places from) its position, and only otherwise shifts whichever
//! part of the array is shorter. Tombstones are dropped when the window reaches an end of the
//! buffer. Lookups gallop down from the best level before a binary search.

use super::{BookStats, Change, prefaulted};

/// Neighbours searched for a free slot before an insert shifts the shorter part.
const REUSE_WINDOW: usize = 8;

/// Ascending keys with the best level at `hi - 1`, inside `keys[lo..hi]`.
///
/// A deleted level leaves a tombstone (quantity 0, key kept so the keys stay sorted) instead
/// of closing the hole: deletes shift nothing, and an insert takes a tombstone next to its
/// place (or a few places away, shifting only up to it) before it shifts a whole part. The
/// ends `lo` and `hi - 1` are always live, so the best level is still `hi - 1`. Tombstones
/// are dropped when the window reaches an end of the buffer.
#[derive(Clone, Debug)]
pub(super) struct Sorted {
    keys: Box<[i64]>,
    qtys: Box<[i64]>,
    lo: usize,
    hi: usize,
    /// Live levels in `lo..hi`.
    live: usize,
}

impl Sorted {
    /// Room for `capacity` live levels (the caller never inserts beyond it); no storage at
    /// all for 0.
    pub(super) fn new(capacity: usize) -> Sorted {
        let cap = if capacity == 0 { 0 } else { 2 * capacity + 2 };
        let mid = cap / 2;
        let buffer = || -> Box<[i64]> {
            if cap == 0 {
                Box::new([])
            } else {
                prefaulted(cap, 0)
            }
        };
        Sorted {
            keys: buffer(),
            qtys: buffer(),
            lo: mid,
            hi: mid,
            live: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Bytes of heap behind the array.
    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.keys) + std::mem::size_of_val(&*self.qtys)
    }

    /// Applies `f` to every quantity held (`f(0)` must be 0: tombstones stay tombstones).
    pub(super) fn map_qtys(&mut self, f: impl Fn(i64) -> i64) {
        for q in &mut self.qtys[self.lo..self.hi] {
            *q = f(*q);
        }
    }

    #[inline]
    pub(super) fn clear(&mut self) {
        self.lo = self.keys.len() / 2;
        self.hi = self.lo;
        self.live = 0;
    }

    #[inline]
    pub(super) fn best(&self) -> Option<(i64, i64)> {
        (self.hi > self.lo).then(|| (self.keys[self.hi - 1], self.qtys[self.hi - 1]))
    }

    /// Absolute index of `key` (Ok, live or tombstone) or where it would go (Err). Gallops
    /// down from the best level, then binary-searches the bracket found.
    #[inline]
    fn search(&self, key: i64) -> Result<usize, usize> {
        let keys = &self.keys[self.lo..self.hi];
        let n = keys.len();
        if n == 0 || key > keys[n - 1] {
            return Err(self.hi);
        }
        // The far end: where far-off outliers go.
        if key <= keys[0] {
            return if key == keys[0] {
                Ok(self.lo)
            } else {
                Err(self.lo)
            };
        }
        let mut b = 1;
        while b < n && keys[n - 1 - b] >= key {
            b <<= 1;
        }
        // keys[n-1-b/2] >= key, and keys[n-1-b] < key when b < n.
        let start = n.saturating_sub(b);
        let end = n - 1 - b / 2;
        let p = start + keys[start..end].partition_point(|&k| k < key);
        if keys[p] == key {
            Ok(self.lo + p)
        } else {
            Err(self.lo + p)
        }
    }

    /// Drops tombstones at both ends so `lo` and `hi - 1` are live.
    #[inline]
    fn trim(&mut self) {
        while self.hi > self.lo && self.qtys[self.hi - 1] == 0 {
            self.hi -= 1;
        }
        while self.lo < self.hi && self.qtys[self.lo] == 0 {
            self.lo += 1;
        }
    }

    /// Removes the tombstones and moves the live levels to the middle of the buffer; returns
    /// where absolute position `pos` went.
    #[cold]
    fn compact(&mut self, pos: usize) -> usize {
        let mut w = self.lo;
        let mut new_pos = self.lo;
        for r in self.lo..self.hi {
            if r == pos {
                new_pos = w;
            }
            if self.qtys[r] != 0 {
                self.keys[w] = self.keys[r];
                self.qtys[w] = self.qtys[r];
                w += 1;
            }
        }
        if pos >= self.hi {
            new_pos = w;
        }
        let len = w - self.lo;
        let new_lo = (self.keys.len() - len) / 2;
        self.keys.copy_within(self.lo..w, new_lo);
        self.qtys.copy_within(self.lo..w, new_lo);
        let moved = new_pos - self.lo + new_lo;
        self.lo = new_lo;
        self.hi = new_lo + len;
        moved
    }

    #[inline]
    fn put(&mut self, i: usize, key: i64, qty: i64) {
        self.keys[i] = key;
        self.qtys[i] = qty;
        self.live += 1;
    }

    /// Inserts a new live level at absolute position `pos` (from a failed search).
    #[inline]
    fn insert_at(&mut self, mut pos: usize, key: i64, qty: i64) {
        // A tombstone right next to the place: take it, nothing moves.
        if pos > self.lo && self.qtys[pos - 1] == 0 {
            return self.put(pos - 1, key, qty);
        }
        if pos < self.hi && self.qtys[pos] == 0 {
            return self.put(pos, key, qty);
        }
        // A tombstone a few places away: shift only up to it.
        for d in 1..=REUSE_WINDOW {
            if pos > self.lo + d && self.qtys[pos - 1 - d] == 0 {
                let t = pos - 1 - d;
                self.keys.copy_within(t + 1..pos, t);
                self.qtys.copy_within(t + 1..pos, t);
                return self.put(pos - 1, key, qty);
            }
            if pos + d < self.hi && self.qtys[pos + d] == 0 {
                let t = pos + d;
                self.keys.copy_within(pos..t, pos + 1);
                self.qtys.copy_within(pos..t, pos + 1);
                return self.put(pos, key, qty);
            }
        }
        // Shift the shorter part; at an end of the buffer, drop tombstones and recenter.
        let cap = self.keys.len();
        let shift_left = pos - self.lo < self.hi - pos;
        if (shift_left && self.lo == 0) || (!shift_left && self.hi == cap) {
            pos = self.compact(pos);
        }
        if shift_left {
            self.keys.copy_within(self.lo..pos, self.lo - 1);
            self.qtys.copy_within(self.lo..pos, self.lo - 1);
            self.lo -= 1;
            pos -= 1;
        } else {
            self.keys.copy_within(pos..self.hi, pos + 1);
            self.qtys.copy_within(pos..self.hi, pos + 1);
            self.hi += 1;
        }
        self.put(pos, key, qty);
    }

    /// The far-most live level's key.
    #[inline]
    pub(super) fn worst(&self) -> Option<i64> {
        (self.hi > self.lo).then(|| self.keys[self.lo])
    }

    /// Removes the far-most live level.
    pub(super) fn drop_worst(&mut self) {
        if self.hi > self.lo {
            self.qtys[self.lo] = 0;
            self.live -= 1;
            self.trim();
        }
    }

    /// Positions (live or tombstone) at or above `key`.
    pub(super) fn count_from(&self, key: i64) -> usize {
        let (Ok(i) | Err(i)) = self.search(key);
        self.hi - i
    }

    /// Whether `key` is a live level.
    #[inline]
    pub(super) fn contains(&self, key: i64) -> bool {
        matches!(self.search(key), Ok(i) if self.qtys[i] != 0)
    }

    /// Applies a level; the caller makes room first, so an insert never exceeds the capacity.
    #[inline]
    pub(super) fn set(&mut self, key: i64, qty: i64, stats: &mut BookStats) -> Change {
        match self.search(key) {
            Ok(i) if self.qtys[i] != 0 => {
                if qty == 0 {
                    self.qtys[i] = 0;
                    self.live -= 1;
                    self.trim();
                    Change::Deleted
                } else {
                    self.qtys[i] = qty;
                    Change::Updated
                }
            }
            Ok(_) | Err(_) if qty == 0 => {
                stats.unknown_deletes += 1;
                Change::DeleteUnknown
            }
            Ok(i) => {
                // A tombstone inside lo..hi.
                self.qtys[i] = qty;
                self.live += 1;
                Change::Inserted
            }
            Err(i) => {
                self.insert_at(i, key, qty);
                Change::Inserted
            }
        }
    }

    /// Appends a level better than all held (rebuilds feed levels in ascending order).
    #[inline]
    pub(super) fn push_best(&mut self, key: i64, qty: i64) {
        debug_assert!(self.best().is_none_or(|(k, _)| k < key));
        if self.hi == self.keys.len() {
            self.compact(self.hi);
        }
        let hi = self.hi;
        self.put(hi, key, qty);
        self.hi += 1;
    }

    /// Moves the live levels to the middle of the buffer.
    pub(super) fn recenter(&mut self) {
        self.compact(self.hi);
    }

    /// Live levels from the far end up as (key, qty).
    pub(super) fn iter_asc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (self.lo..self.hi)
            .filter(|&i| self.qtys[i] != 0)
            .map(|i| (self.keys[i], self.qtys[i]))
    }

    /// Live levels from the best outward as (key, qty).
    pub(super) fn iter_desc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (self.lo..self.hi)
            .rev()
            .filter(|&i| self.qtys[i] != 0)
            .map(|i| (self.keys[i], self.qtys[i]))
    }
}
