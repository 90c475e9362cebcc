//! One side of a book: a [`Grid`] around the top for the levels on its tick grid, and a
//! [`Sorted`] array for the rest (far levels, off-grid prices, or all levels until the tick
//! is known). Keys ascend with quality (bids: price; asks: `!price`).

use super::grid::Grid;
use super::sorted::Sorted;
use super::{BookStats, Change, prefaulted};

/// Grid slots for a side with room for `cap` levels: 16 slots a level (room for sparse
/// books around the top), capped at 64K (a default-depth book, or one sized from a
/// 1,000-level snapshot, gets the full grid: about 136 KiB a side).
fn grid_slots(cap: usize) -> usize {
    cap.saturating_mul(16)
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

/// Smallest capacity a side is given once it holds a level.
pub(super) const MIN_CAPACITY: usize = 16;

/// A side: every live level is in exactly one of `grid` (when it has a slot there) and `far`.
///
/// Storage is sized by `cap`, the levels the side has room for now: nothing until the first
/// level, then grown (doubling, at most `depth`) when a new level finds the side full below
/// its depth, and resized to what the book holds by [`Levels::fit`] (called when a snapshot
/// has been installed, off the per-message path).
#[derive(Clone, Debug)]
pub(super) struct Levels {
    grid: Grid,
    far: Sorted,
    /// All levels in ascending order during a rebuild.
    scratch: Box<[(i64, i64)]>,
    depth: usize,
    /// Levels there is room for now (at most `depth`).
    cap: usize,
    /// Changes applied to `far` since the grid was last placed: moving the grid to follow the
    /// top waits for `len / 8` of them, so its O(len) cost is amortized even when every
    /// change would ask for a move (a top that jumps by a quarter of the grid each time).
    far_changes: usize,
}

impl Levels {
    /// A side of at most `depth` levels; allocates nothing until its first level.
    pub(super) fn new(depth: usize) -> Levels {
        Levels {
            grid: Grid::empty(),
            far: Sorted::new(0),
            scratch: Box::new([]),
            depth,
            cap: 0,
            far_changes: 0,
        }
    }

    /// Levels there is room for without allocating.
    pub(super) fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of storage held (the heap behind the grid, the array and the scratch buffer).
    pub(super) fn heap_bytes(&self) -> usize {
        self.grid.heap_bytes() + self.far.heap_bytes() + std::mem::size_of_val(&*self.scratch)
    }

    /// Resizes the storage to room for `cap` levels (at least the levels held, at most
    /// `depth`; 0 releases it all), written now so no page is first touched later. Keeps
    /// every level and the grid's tick. O(levels + slots).
    #[cold]
    pub(super) fn resize(&mut self, cap: usize) {
        let n = self.len();
        let cap = cap.min(self.depth).max(n);
        if cap == self.cap {
            return;
        }
        let mut scratch = if cap == 0 {
            Box::new([])
        } else {
            prefaulted(cap, (0, 0))
        };
        for (slot, level) in scratch.iter_mut().zip(self.iter_asc()) {
            *slot = level;
        }
        let (tick, base) = (self.grid.tick(), self.grid.base());
        let anchor = self.best_key();
        self.scratch = scratch;
        self.cap = cap;
        if cap == 0 {
            self.grid = Grid::empty();
            self.far = Sorted::new(0);
            return;
        }
        self.grid = Grid::new(grid_slots(cap), cap);
        self.far = Sorted::new(cap);
        let placement = anchor
            .filter(|_| tick != 0)
            .map(|a| (a, tick, i128::from(base)));
        self.fill(n, placement);
    }

    /// Room for a new level on a side that is full below its depth: doubles the capacity.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let want = self.cap.saturating_mul(2).max(MIN_CAPACITY);
        self.resize(want);
    }

    /// Sizes the storage for the levels held now: room for four times as many, at least
    /// [`MIN_CAPACITY`], at most `depth`; grown when short of that, shrunk when it holds
    /// twice that. Nothing held: released. The headroom is for the diffs after a snapshot:
    /// levels beyond the snapshot's depth come in as they change (Binance's spot book grew
    /// from a 1,000-level snapshot to 2,196 asks over the 40,000 messages of the real
    /// capture), and growing later would allocate on the I/O thread.
    pub(super) fn fit(&mut self) {
        let n = self.len();
        if n == 0 {
            self.resize(0);
            return;
        }
        let want = n.saturating_mul(4).max(MIN_CAPACITY).min(self.depth);
        if self.cap < want || self.cap / 2 > want {
            self.resize(want);
        }
    }

    /// Whether every key maps to `key * f + offset` without overflow (the map is monotone,
    /// so the two ends decide).
    pub(super) fn can_rekey(&self, f: i64, offset: i64) -> bool {
        let map = |k: i64| k.checked_mul(f).and_then(|k| k.checked_add(offset));
        let worst = match (
            self.grid.bottom().map(|i| self.grid.key(i)),
            self.far.worst(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        worst.is_none_or(|k| map(k).is_some()) && self.best_key().is_none_or(|k| map(k).is_some())
    }

    /// Re-keys every level to `key * f + offset` (`f` > 0; a book moving to a finer price
    /// scale), which [`Levels::can_rekey`] said fits. The grid keeps its lattice, scaled: its
    /// tick becomes `tick * f`, so the levels on it stay on it and a finer price later
    /// refines the tick as any off-grid level does. O(levels + slots / 64), no allocation.
    pub(super) fn rekey(&mut self, f: i64, offset: i64) {
        let n = self.len();
        let best = self.best_key();
        let (tick, base) = (self.grid.tick(), self.grid.base());
        let Levels {
            grid, far, scratch, ..
        } = self;
        for (slot, (k, q)) in
            scratch
                .iter_mut()
                .zip(merge(grid.iter_asc(), far.iter_asc(), |a, b| a < b))
        {
            *slot = (k.wrapping_mul(f).wrapping_add(offset), q);
        }
        let map = |k: i64| k.wrapping_mul(f).wrapping_add(offset);
        let tick = tick.checked_mul(f.unsigned_abs()).filter(|_| tick != 0);
        let placement = match (best, tick) {
            (Some(b), Some(t)) => Some((
                map(b),
                t,
                i128::from(base) * i128::from(f) + i128::from(offset),
            )),
            _ => None,
        };
        self.fill(n, placement);
    }

    /// Whether every quantity times `f` fits.
    pub(super) fn can_scale_qtys(&self, f: i64) -> bool {
        self.iter_desc().all(|(_, q)| q.checked_mul(f).is_some())
    }

    /// Multiplies every quantity by `f` (which [`Levels::can_scale_qtys`] said fits).
    pub(super) fn scale_qtys(&mut self, f: i64) {
        self.grid.map_qtys(|q| q.wrapping_mul(f));
        self.far.map_qtys(|q| q.wrapping_mul(f));
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
        if now & !was & (self.len() >= self.cap) {
            return self.insert_full(i, key, qty, stats);
        }
        self.grid.write(i, qty, was, now);
        stats.unknown_deletes += u64::from(!was & !now);
        OUTCOME[usize::from(was) * 2 + usize::from(now)]
    }

    /// A new level for empty grid slot `i` on a full side.
    #[cold]
    fn insert_full(&mut self, i: usize, key: i64, qty: i64, stats: &mut BookStats) -> Change {
        if self.cap < self.depth {
            // Growing re-places the grid: find the slot again.
            self.grow();
            return self.set(key, qty, stats);
        }
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
        if self.len() >= self.cap && !self.far.contains(key) {
            if self.cap < self.depth {
                self.grow();
                return self.set(key, qty, stats);
            }
            if !self.make_room(key, stats) {
                return Change::DroppedBeyondDepth;
            }
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
        self.fill(n, Some((anchor, tick, i128::from(reference))));
    }

    /// Empties the grid and the array and puts back the `n` levels in `scratch` (ascending):
    /// with `placement` (anchor, tick, a key on the tick's lattice) the grid is placed with
    /// the anchor at three quarters of its range; without, the grid has no tick and every
    /// level goes to the array.
    fn fill(&mut self, n: usize, placement: Option<(i64, u64, i128)>) {
        let Levels {
            grid, far, scratch, ..
        } = self;
        grid.clear();
        far.clear();
        match placement {
            Some((anchor, tick, reference)) if grid.slots() > 0 => {
                let t = i128::from(tick);
                let slots = grid.slots() as i128;
                let k = (i128::from(anchor) - reference).div_euclid(t);
                let mut base = reference + (k - slots * 3 / 4) * t;
                if base < i128::from(i64::MIN) {
                    let steps = (i128::from(i64::MIN) - base + t - 1) / t;
                    base += steps * t;
                }
                let base = base.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                grid.place(base, tick);
            }
            _ => grid.unplace(),
        }
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

    /// Levels from the far end up as (key, qty).
    fn iter_asc(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        merge(self.grid.iter_asc(), self.far.iter_asc(), |a, b| a < b)
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
