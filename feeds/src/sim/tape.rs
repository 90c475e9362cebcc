//! One symbol's pre-computed market: a cycle of steps (book diffs, trades, top-of-book
//! changes) whose bodies are rendered once, at start-up.
//!
//! Sending then costs a copy of the body plus a few integer formats, yet every message stays
//! consistent with one book: the cycle is a palindrome (the second half undoes the first half's
//! diffs in reverse order), so the book after a whole cycle equals the book before it and the
//! tape can repeat for ever. Update ids and trade ids keep increasing across cycles; they are
//! computed from the step's position, never stored per message.

use super::book::{Book, BookSide, Level};
use super::rng::Rng;
use super::{Mix, SymbolSpec};

/// Steps between stored copies of the book (snapshots replay at most this many diffs).
const CHECKPOINT: usize = 64;
/// Levels per side in the initial book.
const INITIAL_LEVELS: u64 = 150;
/// A side never shrinks below this many levels...
const MIN_LEVELS: usize = 60;
/// ...and never grows above this many.
const MAX_LEVELS: usize = 300;

/// What happens at one step of a symbol's tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// The book changes (Binance `depthUpdate`).
    Depth,
    /// A trade at the best bid or ask.
    Trade,
    /// The top of the book is published (Binance `bookTicker`).
    Ticker,
}

/// One level change in a diff: the new absolute quantity (zero deletes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Book side.
    pub side: BookSide,
    /// Price in integer units.
    pub price: u64,
    /// New quantity in integer units.
    pub qty: u64,
}

/// One step of the tape.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// What the step is.
    pub kind: StepKind,
    /// The body rendered by the venue's [`TapeText`], in [`Tape::text`].
    pub text: (u32, u32),
    /// Depth: its changes in [`Tape::changes`].
    pub changes: (u32, u32),
    /// Update ids consumed by the steps before this one in the cycle.
    pub ids_before: u64,
    /// Depth (USD-M): ids skipped before `U` (other symbols share the id space there).
    pub skip: u64,
    /// Depth: ids in `U..=u`.
    pub span: u64,
    /// Trades before this step in the cycle.
    pub trades_before: u64,
    /// Trade: the buyer is the maker (the trade hit the bid).
    pub maker: bool,
    /// Trade: price and quantity in integer units.
    pub trade: Level,
    /// Ticker: the best bid and ask published (also filled for trades: the top they hit).
    pub top: (Level, Level),
}

/// How a venue numbers a symbol's book updates: the first id, and per depth step the ids
/// skipped (other symbols sharing the id space) and the ids the step consumes. Drawn from
/// the tape's generator, so a venue's ids are as reproducible as its book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRule {
    /// The smallest update id before the first step...
    pub base: u64,
    /// ...plus a random amount below this.
    pub base_spread: u64,
    /// Ids skipped before a diff's first id, uniform in `lo..=hi` (`None`: none, no draw).
    pub skip: Option<(u64, u64)>,
    /// Ids a diff consumes, uniform in `lo..=hi` (`(1, 1)`: one id per diff).
    pub span: (u64, u64),
}

/// The venue's rendering of a step's body, done once per step when the tape is built (the
/// send path then copies it). Every method appends to `out`.
pub trait TapeText {
    /// A book diff: `changes` sorted bids best first, then asks best first; `book` is the
    /// book with the diff applied (for venues whose diffs carry a checksum).
    fn depth(&self, out: &mut Vec<u8>, spec: &SymbolSpec, changes: &[Change], book: &Book);
    /// A trade of `qty` at `price`; `maker`: the buyer is the maker (the seller aggressed).
    fn trade(&self, out: &mut Vec<u8>, spec: &SymbolSpec, price: u64, qty: u64, maker: bool);
    /// A top-of-book publication.
    fn ticker(&self, out: &mut Vec<u8>, spec: &SymbolSpec, bid: Level, ask: Level);
}

/// A symbol's cycle of steps with everything needed to render messages and snapshots.
#[derive(Debug)]
pub struct Tape {
    /// The symbol.
    pub spec: SymbolSpec,
    steps: Vec<Step>,
    text: Vec<u8>,
    changes: Vec<Change>,
    /// `checkpoints[i]` is the book after `i * CHECKPOINT` steps.
    checkpoints: Vec<Book>,
    ids_per_cycle: u64,
    trades_per_cycle: u64,
    /// The book's update id before the first step.
    pub base_update_id: u64,
    /// The first trade's id.
    pub base_trade_id: u64,
    /// The first aggregate trade's id.
    pub base_agg_id: u64,
}

impl Tape {
    /// Builds a tape of `len` steps (even, at least 2), numbering updates by `ids` and
    /// rendering step bodies with `text`. Deterministic in `seed`.
    pub fn build(
        spec: SymbolSpec,
        mix: Mix,
        len: usize,
        seed: u64,
        ids: IdRule,
        text: &dyn TapeText,
    ) -> Tape {
        let len = len.max(2) & !1;
        let half = len / 2;
        let mut rng = Rng::new(seed);
        let mut walk = Generator::new(&spec, ids, &mut rng);
        let mut tape = Tape {
            steps: Vec::with_capacity(len),
            text: Vec::with_capacity(len * 160),
            changes: Vec::new(),
            checkpoints: Vec::with_capacity(len / CHECKPOINT + 1),
            ids_per_cycle: 0,
            trades_per_cycle: 0,
            base_update_id: ids.base + rng.below(ids.base_spread.max(1)),
            base_trade_id: 3_000_000_000 + rng.below(1_000_000_000),
            base_agg_id: 1_000_000_000 + rng.below(1_000_000_000),
            spec,
        };
        let mut kinds = Vec::with_capacity(half);
        // The diff each forward step applied, as the quantities it replaced.
        let mut undo: Vec<Vec<Change>> = Vec::with_capacity(half);
        for _ in 0..half {
            let kind = mix.pick(&mut rng);
            kinds.push(kind);
            let diff = if kind == StepKind::Depth {
                walk.random_diff(&mut rng)
            } else {
                Vec::new()
            };
            undo.push(tape.push_step(&mut walk, &mut rng, text, kind, &diff));
        }
        for i in (0..half).rev() {
            let redo = std::mem::take(&mut undo[i]);
            tape.push_step(&mut walk, &mut rng, text, kinds[i], &redo);
        }
        debug_assert_eq!(
            walk.book, tape.checkpoints[0],
            "a tape cycle must restore its book"
        );
        tape
    }

    /// Appends one step computed on the generator's current book; returns the diff that
    /// undoes it (empty for non-depth steps).
    fn push_step(
        &mut self,
        walk: &mut Generator,
        rng: &mut Rng,
        text: &dyn TapeText,
        kind: StepKind,
        diff: &[Change],
    ) -> Vec<Change> {
        if self.steps.len() % CHECKPOINT == 0 {
            self.checkpoints.push(walk.book.clone());
        }
        let start = self.text.len() as u32;
        let changes_start = self.changes.len() as u32;
        let mut step = Step {
            kind,
            text: (start, start),
            changes: (changes_start, changes_start),
            ids_before: self.ids_per_cycle,
            skip: 0,
            span: 0,
            trades_before: self.trades_per_cycle,
            maker: false,
            trade: (0, 0),
            top: walk.top(),
        };
        let mut undo = Vec::new();
        match kind {
            StepKind::Depth => {
                // Apply, remembering what each level held before; then render sorted like
                // the venue: bids best first, asks best first.
                let mut sorted: Vec<Change> = diff.to_vec();
                sorted.sort_by(|a, b| match (a.side, b.side) {
                    (BookSide::Bid, BookSide::Bid) => b.price.cmp(&a.price),
                    (BookSide::Ask, BookSide::Ask) => a.price.cmp(&b.price),
                    (x, y) => x.cmp(&y),
                });
                for c in &sorted {
                    let old = walk.book.set(c.side, c.price, c.qty);
                    undo.push(Change { qty: old, ..*c });
                }
                self.changes.extend_from_slice(&sorted);
                text.depth(&mut self.text, &self.spec, &sorted, &walk.book);
                step.top = walk.top();
                let ids = walk.ids;
                step.skip = ids.skip.map_or(0, |(lo, hi)| rng.range(lo, hi));
                step.span = rng.range(ids.span.0, ids.span.1);
                self.ids_per_cycle += step.skip + step.span;
            }
            StepKind::Trade => {
                let (bid, ask) = walk.top();
                step.maker = rng.percent(50);
                let price = if step.maker { bid.0 } else { ask.0 };
                let lots = rng.range(1, (walk.max_lots / 20).max(2));
                step.trade = (price, lots * self.spec.lot);
                text.trade(
                    &mut self.text,
                    &self.spec,
                    price,
                    lots * self.spec.lot,
                    step.maker,
                );
                self.trades_per_cycle += 1;
            }
            StepKind::Ticker => {
                let (bid, ask) = walk.top();
                text.ticker(&mut self.text, &self.spec, bid, ask);
            }
        }
        step.text.1 = self.text.len() as u32;
        step.changes.1 = self.changes.len() as u32;
        self.steps.push(step);
        undo
    }

    /// Steps in one cycle.
    pub fn len(&self) -> u64 {
        self.steps.len() as u64
    }

    /// Always false: a tape has at least two steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The step at absolute position `pos` (cycles repeat).
    pub fn step(&self, pos: u64) -> &Step {
        &self.steps[(pos % self.len()) as usize]
    }

    /// The pre-rendered members of a step.
    pub fn text(&self, step: &Step) -> &[u8] {
        &self.text[step.text.0 as usize..step.text.1 as usize]
    }

    /// The level changes of a depth step.
    pub fn changes(&self, step: &Step) -> &[Change] {
        &self.changes[step.changes.0 as usize..step.changes.1 as usize]
    }

    /// The book's last update id once `pos` steps have been applied.
    pub fn update_id_after(&self, pos: u64) -> u64 {
        self.base_update_id + (pos / self.len()) * self.ids_per_cycle + self.step(pos).ids_before
    }

    /// `(U, u, pu)` of the depth step at absolute position `pos`.
    pub fn depth_ids(&self, pos: u64) -> (u64, u64, u64) {
        let step = self.step(pos);
        let prev = self.update_id_after(pos);
        let first = prev + step.skip + 1;
        (first, first + step.span - 1, prev)
    }

    /// Trades published before absolute position `pos`.
    pub fn trades_before(&self, pos: u64) -> u64 {
        (pos / self.len()) * self.trades_per_cycle + self.step(pos).trades_before
    }

    /// The book once `pos` steps have been applied.
    pub fn book_after(&self, pos: u64) -> Book {
        let at = (pos % self.len()) as usize;
        let mut book = self.checkpoints[at / CHECKPOINT].clone();
        for step in &self.steps[at / CHECKPOINT * CHECKPOINT..at] {
            for c in self.changes(step) {
                book.set(c.side, c.price, c.qty);
            }
        }
        book
    }
}

/// The random walk that produces the forward half of a tape.
struct Generator {
    book: Book,
    ids: IdRule,
    tick: u64,
    lot: u64,
    max_lots: u64,
    /// Direction of the current price trend (runs flip at random).
    up: bool,
}

impl Generator {
    fn new(spec: &SymbolSpec, ids: IdRule, rng: &mut Rng) -> Generator {
        // A level holds up to about 300k of the quote currency.
        let notional = 300_000 * super::fixed::pow10(spec.price_decimals) as u128;
        let units = notional * super::fixed::pow10(spec.qty_decimals) as u128
            / u128::from(spec.start_price.max(1));
        let max_lots = (units / u128::from(spec.lot.max(1))).clamp(10, 1 << 40) as u64;
        let mut g = Generator {
            book: Book::default(),
            ids,
            tick: spec.tick.max(1),
            lot: spec.lot.max(1),
            max_lots,
            up: rng.percent(50),
        };
        let mid = spec.start_price / g.tick * g.tick;
        let floor = g.tick * (INITIAL_LEVELS * 4 + 1);
        let mid = mid.max(floor);
        let (mut bid, mut ask) = (mid, mid);
        for _ in 0..INITIAL_LEVELS {
            bid -= g.tick * rng.range(1, 3);
            ask += g.tick * rng.range(1, 3);
            let (qb, qa) = (g.qty(rng), g.qty(rng));
            g.book.set(BookSide::Bid, bid, qb);
            g.book.set(BookSide::Ask, ask, qa);
        }
        g
    }

    fn qty(&self, rng: &mut Rng) -> u64 {
        // Mostly small levels, a few large ones.
        let cap = if rng.percent(10) {
            self.max_lots
        } else {
            (self.max_lots / 30).max(1)
        };
        rng.range(1, cap) * self.lot
    }

    fn top(&self) -> (Level, Level) {
        (
            self.book.best_bid().unwrap_or((0, 0)),
            self.book.best_ask().unwrap_or((0, 0)),
        )
    }

    /// One to three actions on the book; returns the diff (final quantity per level).
    /// The book itself is left unchanged: the caller applies the diff.
    fn random_diff(&mut self, rng: &mut Rng) -> Vec<Change> {
        // Work on the book itself and put it back afterwards (cheaper than a clone).
        let mut scratch = std::mem::take(&mut self.book);
        let mut out: Vec<Change> = Vec::new();
        let mut original: Vec<Change> = Vec::new();
        let mut set = |book: &mut Book, side: BookSide, price: u64, qty: u64| {
            let old = book.set(side, price, qty);
            match out.iter_mut().find(|c| c.side == side && c.price == price) {
                Some(c) => c.qty = qty,
                None => {
                    out.push(Change { side, price, qty });
                    original.push(Change {
                        side,
                        price,
                        qty: old,
                    });
                }
            }
        };
        if rng.percent(3) {
            self.up = !self.up;
        }
        if rng.percent(20) {
            // The price moves one level with the trend: the best level on the far side is
            // taken and the near side steps into its price; the far side gets a new level at
            // its back so its depth holds.
            let (far, near) = if self.up {
                (BookSide::Ask, BookSide::Bid)
            } else {
                (BookSide::Bid, BookSide::Ask)
            };
            let best = match far {
                BookSide::Bid => scratch.best_bid(),
                BookSide::Ask => scratch.best_ask(),
            };
            if let (Some((p, _)), Some((w, _))) = (best, scratch.worst(far)) {
                let gap = self.tick * rng.range(1, 3);
                let back = match far {
                    BookSide::Bid => w.checked_sub(gap).filter(|&b| b > 0),
                    BookSide::Ask => w.checked_add(gap),
                };
                if let Some(back) = back {
                    let (qn, qb) = (self.qty(rng), self.qty(rng));
                    set(&mut scratch, far, p, 0);
                    set(&mut scratch, near, p, qn);
                    set(&mut scratch, far, back, qb);
                }
            }
        }
        for _ in 0..rng.range(1, 3) {
            let side = if rng.percent(50) {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let (bid, ask) = (
                scratch.best_bid().map_or(0, |l| l.0),
                scratch.best_ask().map_or(u64::MAX, |l| l.0),
            );
            let spread_ticks = (ask.saturating_sub(bid)) / self.tick;
            let roll = if spread_ticks > 4 { 62 } else { rng.below(100) };
            if roll < 45 {
                // Requantify a level near the top.
                let n = rng.below(10) as usize;
                let len = scratch.len(side);
                if let Some((p, _)) = scratch.nth(side, n.min(len.saturating_sub(1))) {
                    let q = self.qty(rng);
                    set(&mut scratch, side, p, q);
                }
            } else if roll < 58 {
                // The best level is taken out (the price moves away from this side).
                if scratch.len(side) > MIN_LEVELS {
                    let best = match side {
                        BookSide::Bid => scratch.best_bid(),
                        BookSide::Ask => scratch.best_ask(),
                    };
                    if let Some((p, _)) = best {
                        set(&mut scratch, side, p, 0);
                    }
                }
            } else if roll < 72 {
                // A new best level inside the spread, or just behind the top if the spread
                // is one tick.
                let price = match side {
                    BookSide::Bid if bid + self.tick < ask => bid + self.tick,
                    BookSide::Ask if ask - self.tick > bid => ask - self.tick,
                    BookSide::Bid => bid.saturating_sub(self.tick),
                    BookSide::Ask => ask + self.tick,
                };
                if price > 0 {
                    let q = self.qty(rng);
                    set(&mut scratch, side, price, q);
                }
            } else if roll < 90 {
                // A new level deeper in the book.
                let away = self.tick * rng.range(1, 200);
                let price = match side {
                    BookSide::Bid => bid.saturating_sub(away),
                    BookSide::Ask => ask.saturating_add(away),
                };
                if price > 0 && price != u64::MAX && scratch.qty(side, price) == 0 {
                    let q = self.qty(rng);
                    set(&mut scratch, side, price, q);
                }
            } else if scratch.len(side) > MIN_LEVELS {
                // A random level is cancelled.
                let n = rng.below(scratch.len(side) as u64) as usize;
                if let Some((p, _)) = scratch.nth(side, n) {
                    set(&mut scratch, side, p, 0);
                }
            }
            for s in [BookSide::Bid, BookSide::Ask] {
                while scratch.len(s) > MAX_LEVELS {
                    if let Some((p, _)) = scratch.worst(s) {
                        set(&mut scratch, s, p, 0);
                    }
                }
            }
        }
        for c in original.iter().rev() {
            scratch.set(c.side, c.price, c.qty);
        }
        self.book = scratch;
        if out.is_empty() {
            // Every action was refused: requantify the best bid so the step is a real diff.
            if let Some((p, _)) = self.book.best_bid() {
                let q = self.qty(rng);
                out.push(Change {
                    side: BookSide::Bid,
                    price: p,
                    qty: q,
                });
            }
        }
        out
    }
}
