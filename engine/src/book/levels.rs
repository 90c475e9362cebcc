//! One side of a book: a [`Grid`] around the top for the levels on its tick grid, and a
//! [`Sorted`] array for the rest (far levels, off-grid prices, or all levels until the tick
//! is known). Keys ascend with quality (bids: price; asks: `!price`).

use super::grid::Grid;
use super::sorted::Sorted;
use super::{BookStats, Change, prefaulted};

/// Grid slots for a side of `depth` levels: room for sparse books around the top, capped so
/// a default (5000-level) book costs about half a MiB a side.
fn grid_slots(depth: usize) -> usize {
    depth
        .saturating_mul(8)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .clamp(64, 1 << 16)
}

/// What a grid write did, by (was occupied, is occupied).
const OUTCOME: [Change; 4] = [
    Change::DeleteUnknown,
    Change::Inserted,
    Change::Deleted,
    Change::Updated,
];

/// Far levels above the grid's top that make a rebuild worth it.
const ABOVE_GRID_REBUILD: usize = 32;

/// A side: every live level is in exactly one of `grid` (when it has a slot there) and `far`.
#[derive(Clone, Debug)]
pub(super) struct Levels {
    grid: Grid,
    far: Sorted,
    /// All levels in ascending order during a rebuild.
    scratch: Box<[(i64, i64)]>,
    depth: usize,
    /// Changes applied to `far` since the grid was last placed: moving the grid to follow the
    /// top waits for `len / 8` of them, so its O(len) cost is amortized even when every
    /// change would ask for a move (a top that jumps by a quarter of the grid each time).
    far_changes: usize,
}

impl Levels {
    pub(super) fn new(depth: usize) -> Levels {
        Levels {
            grid: Grid::new(grid_slots(depth), depth),
            far: Sorted::new(depth),
            scratch: prefaulted(depth, (0, 0)),
            depth,
            far_changes: 0,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.grid.len() + self.far.len()
    }

    /// Empties the side; the grid keeps its placement and tick.
    #[inline]
    pub(super) fn clear(&mut self) {
        self.grid.clear();
        self.far.clear();
    }

    /// The best level as (key, qty).
    #[inline]
    pub(super) fn best(&self) -> Option<(i64, i64)> {
        let g = self
            .grid
            .top()
            .map(|i| (self.grid.key(i), self.grid.qty(i)));
        match (g, self.far.best()) {
            (Some(g), Some(f)) => Some(if f.0 > g.0 { f } else { g }),
            (g, f) => g.or(f),
        }
    }

    fn best_key(&self) -> Option<i64> {
        self.best().map(|(k, _)| k)
    }

    /// Applies one level (`qty` 0 deletes), keeping at most `depth` levels.
    #[inline]
    pub(super) fn set(&mut self, key: i64, qty: i64, stats: &mut BookStats) -> Change {
        let Some(i) = self.grid.slot(key) else {
            return self.set_far(key, qty, stats);
        };
        let was = self.grid.occupied(i);
        let now = qty != 0;
        if now & !was & (self.len() >= self.depth) {
            return self.insert_full(i, key, qty, stats);
        }
        self.grid.write(i, qty, was, now);
        stats.unknown_deletes += u64::from(!was & !now);
        OUTCOME[usize::from(was) * 2 + usize::from(now)]
    }

    /// A new level for empty grid slot `i` on a full side.
    #[cold]
    fn insert_full(&mut self, i: usize, key: i64, qty: i64, stats: &mut BookStats) -> Change {
        // Making room removes the worst level, never this empty slot.
        if !self.make_room(key, stats) {
            return Change::DroppedBeyondDepth;
        }
        self.grid.insert(i, qty);
        Change::Inserted
    }

    /// A level without a grid slot.
    #[inline(never)]
    fn set_far(&mut self, key: i64, qty: i64, stats: &mut BookStats) -> Change {
        self.far_changes += 1;
        if qty == 0 {
            return self.far.set(key, 0, stats);
        }
        if self.len() >= self.depth && !self.far.contains(key) && !self.make_room(key, stats) {
            return Change::DroppedBeyondDepth;
        }
        let change = self.far.set(key, qty, stats);
        if change == Change::Inserted {
            self.regrid(key);
        }
        change
    }

    /// On a full side, drops the far-most level to make room for new level `key`; false
    /// (and `key` is the one dropped) when `key` is worse than every level held.
    fn make_room(&mut self, key: i64, stats: &mut BookStats) -> bool {
        stats.dropped_levels += 1;
        let g = self.grid.bottom();
        let gk = g.map(|i| self.grid.key(i));
        let fk = self.far.worst();
        let worst = match (gk, fk) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(i64::MIN),
        };
        if key < worst {
            return false;
        }
        match (g, gk) {
            (Some(i), Some(k)) if k == worst => self.grid.remove(i),
            _ => self.far.drop_worst(),
        }
        true
    }

    /// After `key` went into `far`: learns or refines the tick, or moves the grid when the
    /// top has moved away from it.
    fn regrid(&mut self, key: i64) {
        let Some(best) = self.best_key() else { return };
        let tick = self.grid.tick();
        if tick == 0 {
            // Learn the tick from the levels so far: the gcd of their distances.
            let mut it = self.far.iter_asc().map(|(k, _)| k);
            let Some(first) = it.next() else { return };
            let t = it.fold(0u64, |g, k| gcd(g, k.abs_diff(first)));
            if t != 0 {
                self.rebuild(best, t, first);
            }
            return;
        }
        let base = self.grid.base();
        let slots = self.grid.slots() as i128;
        let t = i128::from(tick);
        let d = i128::from(key) - i128::from(base);
        if d.rem_euclid(t) != 0 {
            // Off the grid inside its range: the tick was a multiple of the real one.
            if (0..slots * t).contains(&d) {
                self.rebuild(best, gcd(tick, key.abs_diff(base)), base);
            }
            return;
        }
        let q = d / t;
        let move_grid = if q >= slots {
            // Above the grid: follow the top when it is near, or keeps coming from there.
            self.grid.len() == 0
                || q < slots + slots / 2
                || self.far.count_from(self.grid.key(self.grid.slots() - 1)) >= ABOVE_GRID_REBUILD
        } else {
            // Below the grid: follow the top down when it left the grid's upper three quarters.
            let best_q = (i128::from(best) - i128::from(base)).div_euclid(t);
            best_q < slots / 4
        };
        if move_grid && self.far_changes >= self.len() / 8 {
            self.rebuild(best, tick, base);
        }
    }

    /// Re-places the grid (slot distance `tick`, on the grid of `reference`) with `anchor` at
    /// three quarters of its range, and redistributes every level. O(levels + slots / 64).
    #[cold]
    fn rebuild(&mut self, anchor: i64, tick: u64, reference: i64) {
        let Levels {
            grid, far, scratch, ..
        } = self;
        let mut n = 0;
        for level in merge(grid.iter_asc(), far.iter_asc(), |a, b| a < b) {
            scratch[n] = level;
            n += 1;
        }
        grid.clear();
        far.clear();
        let t = i128::from(tick);
        let slots = grid.slots() as i128;
        let k = (i128::from(anchor) - i128::from(reference)).div_euclid(t);
        let mut base = i128::from(reference) + (k - slots * 3 / 4) * t;
        if base < i128::from(i64::MIN) {
            let steps = (i128::from(i64::MIN) - base + t - 1) / t;
            base += steps * t;
        }
        let base = base.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        grid.place(base, tick);
        for &(k, q) in &scratch[..n] {
            match grid.slot(k) {
                Some(i) => grid.insert(i, q),
                None => far.push_best(k, q),
            }
        }
        far.recenter();
        self.far_changes = 0;
    }

    /// Levels held in the grid, and its tick (for tests of where levels go).
    #[cfg(test)]
    pub(super) fn grid_state(&self) -> (usize, u64) {
        (self.grid.len(), self.grid.tick())
    }

    /// Whether level `key` is held in the grid.
    #[cfg(test)]
    pub(super) fn in_grid(&self, key: i64) -> bool {
        self.grid.slot(key).is_some_and(|i| self.grid.occupied(i))
    }

    /// Levels from the best outward as (key, qty).
    pub(super) fn iter_desc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        merge(self.grid.iter_desc(), self.far.iter_desc(), |a, b| a > b)
    }
}

/// Merges two key-ordered level sequences (disjoint keys) in the order `first` defines.
fn merge<A, B, F>(a: A, b: B, first: F) -> impl Iterator<Item = (i64, i64)>
where
    A: Iterator<Item = (i64, i64)>,
    B: Iterator<Item = (i64, i64)>,
    F: Fn(i64, i64) -> bool,
{
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) => {
            if first(x.0, y.0) {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        _ => b.next(),
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
