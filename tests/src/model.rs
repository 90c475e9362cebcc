//! Checks a consumer's events against the simulator's venue model
//! (`tickwire_feeds::binance::sim::Venue`): nothing may be lost silently.
//!
//! [`ModelCheck`] rebuilds one book per instrument from the events alone (as any consumer
//! would, with [`Book::apply_event`]) and, at every consistent point (the end of a snapshot
//! run or of a diff), compares it level for level with the model's book at that update id.
//! Between resyncs it checks that the diffs delivered form the venue's unbroken chain (each
//! diff's previous update id, as the model knows it, is the one delivered before), and that
//! trade ids are consecutive unless a status in between says why they may not be
//! (disconnect, decode error, overflow). Anything else is a violation.

use std::collections::HashMap;
use std::sync::Arc;

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{Event, EventKind, Flags, Side, StatusKind};
use tickwire_engine::{InstrumentId, Registry};
use tickwire_feeds::binance::sim::tape::StepKind;
use tickwire_feeds::binance::sim::{Book as ModelBook, BookSide, Venue};

/// Counters of what was checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Snapshot runs compared with the model.
    pub snapshots: u64,
    /// Diffs compared with the model (book equal after the diff).
    pub diffs: u64,
    /// Diffs whose previous update id matched the one delivered before (chain links).
    pub links: u64,
    /// Consecutive trade-id pairs checked.
    pub trade_links: u64,
    /// Diffs that arrived while the consumer's book was invalid (skipped, not wrong).
    pub skipped_invalid: u64,
    /// Diffs applied again right after a snapshot taken at their own final id (USD-M's sync
    /// rule `U <= lastUpdateId <= u` takes the diff that ends at the snapshot; its absolute
    /// quantities are already in the book, so the book must not change).
    pub reapplied: u64,
}

struct BookState {
    book: Book,
    /// Update id of the last consistent point delivered since the last snapshot run.
    last: Option<u64>,
    /// Whether that point was the end of a snapshot run.
    after_snapshot: bool,
}

/// See the module docs.
pub struct ModelCheck {
    venue: Arc<Venue>,
    registry: Registry,
    venue_name: &'static str,
    depth: usize,
    books: HashMap<InstrumentId, BookState>,
    /// Last trade id per instrument; `None` after a status that excuses a jump.
    trades: HashMap<InstrumentId, Option<u64>>,
    violations: Vec<String>,
    checked: Checked,
}

impl ModelCheck {
    /// A checker for events of `venue_name` (`binance`, `binance-usdm`) whose instruments
    /// are named in `registry`, against `venue`. Consumer books keep `depth` levels a side.
    pub fn new(
        venue: Arc<Venue>,
        registry: Registry,
        venue_name: &'static str,
        depth: usize,
    ) -> ModelCheck {
        ModelCheck {
            venue,
            registry,
            venue_name,
            depth,
            books: HashMap::new(),
            trades: HashMap::new(),
            violations: Vec::new(),
            checked: Checked::default(),
        }
    }

    /// What was checked so far.
    pub fn checked(&self) -> Checked {
        self.checked
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Panics listing the violations, if any.
    pub fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "{} violations, first ones: {:#?}",
            self.violations.len(),
            &self.violations[..self.violations.len().min(10)]
        );
    }

    /// Whether the consumer's book of `instrument` is valid (built from a snapshot run and
    /// not invalidated since).
    pub fn book_valid(&self, instrument: InstrumentId) -> bool {
        self.books
            .get(&instrument)
            .is_some_and(|b| b.book.is_valid())
    }

    /// The consumer's book of `instrument`.
    pub fn book(&self, instrument: InstrumentId) -> Option<&Book> {
        self.books.get(&instrument).map(|b| &b.book)
    }

    fn symbol(&self, instrument: InstrumentId) -> Option<usize> {
        let name = self.registry.name(instrument)?;
        if &*name.venue != self.venue_name {
            return None;
        }
        self.venue.symbol_index(&name.symbol)
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 1000 {
            self.violations.push(what);
        }
    }

    /// Checks one event (in delivery order).
    pub fn apply(&mut self, e: &Event) {
        match e.kind() {
            EventKind::BookLevel => self.level(e),
            EventKind::Trade => self.trade(e),
            EventKind::Bbo => {}
            EventKind::Status => self.status(e),
        }
    }

    fn status(&mut self, e: &Event) {
        let Some(s) = e.as_status() else { return };
        let all = e.instrument == InstrumentId::NONE;
        // Book invalidation follows the engine's consumer contract.
        for (i, b) in self.books.iter_mut() {
            if all || *i == e.instrument {
                let _ = b.book.apply_event(e);
                if !b.book.is_valid() {
                    b.last = None;
                }
            }
        }
        match s.kind {
            StatusKind::Disconnected
            | StatusKind::DecodeError
            | StatusKind::Overflow
            | StatusKind::Resync
            | StatusKind::Gap => {
                for (i, t) in self.trades.iter_mut() {
                    if all || *i == e.instrument {
                        *t = None;
                    }
                }
            }
            _ => {}
        }
    }

    fn trade(&mut self, e: &Event) {
        let Some(t) = e.as_trade() else { return };
        if e.flags.contains(Flags::AGGREGATED) {
            return;
        }
        let prev = self.trades.insert(e.instrument, Some(t.id)).flatten();
        if let Some(p) = prev {
            if t.id == p + 1 {
                self.checked.trade_links += 1;
            } else {
                self.violation(format!(
                    "trade ids jump from {p} to {} on {:?} with no status in between",
                    t.id, e.instrument
                ));
            }
        }
    }

    fn level(&mut self, e: &Event) {
        let depth = self.depth;
        let state = self.books.entry(e.instrument).or_insert_with(|| BookState {
            book: Book::new(BookConfig::with_depth(depth)),
            last: None,
            after_snapshot: false,
        });
        if let Err(err) = state.book.apply_event(e) {
            let what = format!("consumer book rejected {e:?}: {err:?}");
            self.violation(what);
            return;
        }
        if !e.flags.contains(Flags::LAST_IN_BATCH) {
            return;
        }
        let Some(level) = e.as_level() else { return };
        let u = level.seq;
        let snapshot = e.flags.contains(Flags::SNAPSHOT);
        if !state.book.is_valid() {
            // A diff after an overflow or resync, before the next snapshot run: the
            // consumer knows its book is not whole.
            self.checked.skipped_invalid += 1;
            return;
        }
        let prev = state.last.replace(u);
        let after_snapshot = std::mem::replace(&mut state.after_snapshot, snapshot);
        let Some(sym) = self.symbol(e.instrument) else {
            self.violation(format!(
                "event for an instrument the model does not know: {e:?}"
            ));
            return;
        };
        if snapshot {
            self.checked.snapshots += 1;
        } else {
            match (prev, model_prev(&self.venue, sym, u)) {
                (Some(p), Some(m)) if p == m => self.checked.links += 1,
                (Some(p), _) if p == u && after_snapshot => self.checked.reapplied += 1,
                (p, m) => self.violation(format!(
                    "diff u={u} on {:?}: delivered after {p:?}, but the venue's previous update id is {m:?}",
                    e.instrument
                )),
            }
            self.checked.diffs += 1;
        }
        match model_book(&self.venue, sym, u) {
            None => self.violation(format!("no model book at update id {u}")),
            Some(model) => {
                let book = &self.books[&e.instrument].book;
                if let Some(diff) = compare(&self.venue, sym, book, &model) {
                    self.violation(format!(
                        "book of {:?} at u={u} (snapshot: {snapshot}) differs from the model: {diff}",
                        e.instrument
                    ));
                }
            }
        }
    }
}

/// The smallest tape position whose update id (after it) is at least `u`.
fn position(venue: &Venue, sym: usize, u: u64) -> u64 {
    let tape = venue.tape(sym);
    let (mut lo, mut hi) = (0u64, 1u64);
    while tape.update_id_after(hi) < u {
        lo = hi;
        hi *= 2;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if tape.update_id_after(mid) < u {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The model's book right after update id `u` (`None` if no diff ends at `u`).
pub fn model_book(venue: &Venue, sym: usize, u: u64) -> Option<ModelBook> {
    let tape = venue.tape(sym);
    let p = position(venue, sym, u);
    (tape.update_id_after(p) == u).then(|| tape.book_after(p))
}

/// The previous update id of the diff that ends at `u` (its `pu`), if a diff ends there.
pub fn model_prev(venue: &Venue, sym: usize, u: u64) -> Option<u64> {
    let tape = venue.tape(sym);
    let p = position(venue, sym, u);
    if p == 0 || tape.update_id_after(p) != u {
        return None;
    }
    // Step p-1 is the diff that moved the id to u.
    let step = tape.step(p - 1);
    (step.kind == StepKind::Depth).then(|| tape.update_id_after(p - 1))
}

/// Describes the first difference between a consumer book and the model's, if any.
fn compare(venue: &Venue, sym: usize, book: &Book, model: &ModelBook) -> Option<String> {
    let spec = venue.spec(sym);
    for (side, ours, theirs) in [
        (
            Side::Buy,
            book.bids(usize::MAX).collect::<Vec<_>>(),
            model.levels(BookSide::Bid).collect::<Vec<_>>(),
        ),
        (
            Side::Sell,
            book.asks(usize::MAX).collect::<Vec<_>>(),
            model.levels(BookSide::Ask).collect::<Vec<_>>(),
        ),
    ] {
        if ours.len() != theirs.len() {
            return Some(format!(
                "{side:?}: {} levels, model {}",
                ours.len(),
                theirs.len()
            ));
        }
        for (i, ((p, q), (mp, mq))) in ours.iter().zip(&theirs).enumerate() {
            let p = p.mantissa_at(spec.price_decimals).ok();
            let q = q.mantissa_at(spec.qty_decimals).ok();
            if p != i64::try_from(*mp).ok() || q != i64::try_from(*mq).ok() {
                return Some(format!(
                    "{side:?} level {i}: ({p:?}, {q:?}) vs model ({mp}, {mq})"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::Decimal;
    use tickwire_engine::event::{Level, Status, Trade};
    use tickwire_engine::reason::Reason;
    use tickwire_feeds::binance::sim::{Market, VenueConfig};

    fn level_events(
        venue: &Venue,
        id: InstrumentId,
        levels: &[(BookSide, u64, u64)],
        u: u64,
        snapshot: bool,
    ) -> Vec<Event> {
        let spec = venue.spec(0);
        let n = levels.len();
        levels
            .iter()
            .enumerate()
            .map(|(i, &(side, p, q))| {
                let mut flags = if snapshot {
                    Flags::SNAPSHOT
                } else {
                    Flags::EMPTY
                };
                if snapshot && i == 0 {
                    flags = flags.with(Flags::RUN_START);
                }
                if i + 1 == n {
                    flags = flags.with(Flags::LAST_IN_BATCH);
                }
                let level = Level {
                    side: if side == BookSide::Bid {
                        Side::Buy
                    } else {
                        Side::Sell
                    },
                    price: Decimal::from_parts(p as i64, spec.price_decimals),
                    qty: Decimal::from_parts(q as i64, spec.qty_decimals),
                    seq: u,
                };
                Event::level(id, level, flags, 0, 0).unwrap()
            })
            .collect()
    }

    /// A snapshot run at tape position `p`, then the diffs of the next `n` depth steps.
    fn feed(venue: &Venue, id: InstrumentId, p: u64, n: usize) -> Vec<Vec<Event>> {
        let tape = venue.tape(0);
        let book = tape.book_after(p);
        let mut snap: Vec<(BookSide, u64, u64)> =
            book.bids().map(|(p, q)| (BookSide::Bid, p, q)).collect();
        snap.extend(book.asks().map(|(p, q)| (BookSide::Ask, p, q)));
        let mut out = vec![level_events(
            venue,
            id,
            &snap,
            tape.update_id_after(p),
            true,
        )];
        let mut pos = p;
        while out.len() <= n {
            if tape.step(pos).kind == StepKind::Depth {
                let changes: Vec<_> = tape
                    .changes(tape.step(pos))
                    .iter()
                    .map(|c| (c.side, c.price, c.qty))
                    .collect();
                out.push(level_events(
                    venue,
                    id,
                    &changes,
                    tape.depth_ids(pos).1,
                    false,
                ));
            }
            pos += 1;
        }
        out
    }

    fn status(kind: StatusKind, instrument: InstrumentId) -> Event {
        let s = Status {
            kind,
            reason: Reason::None.code(),
            value: 0,
            connection: 1,
        };
        Event::status(instrument, s, 0)
    }

    #[test]
    fn the_check_fails_on_a_silent_loss_and_passes_a_flagged_one() {
        let mut c = VenueConfig::new(Market::Spot);
        c.tape_len = 256;
        let venue = Venue::new(&c).unwrap();
        let registry = Registry::new();
        let id = registry.intern("binance", "BTCUSDT");
        let batches = feed(&venue, id, 10, 40);
        let check = |batches: &[&[Event]]| {
            let mut m = ModelCheck::new(venue.clone(), registry.clone(), "binance", 5000);
            for b in batches {
                for e in *b {
                    m.apply(e);
                }
            }
            m
        };
        let all: Vec<&[Event]> = batches.iter().map(Vec::as_slice).collect();
        let m = check(&all);
        m.assert_clean();
        assert_eq!(
            (m.checked().snapshots, m.checked().diffs, m.checked().links),
            (1, 40, 40)
        );
        // One diff missing, nothing said: the chain and the book both catch it.
        let mut lossy = all.clone();
        lossy.remove(20);
        let m = check(&lossy);
        assert!(m.violations().len() >= 2, "{:?}", m.violations());
        // One level changed: the book differs from the model.
        let mut wrong = batches[5].clone();
        let l = wrong[0].as_level().unwrap();
        let spec = venue.spec(0);
        wrong[0] = Event::level(
            id,
            Level {
                qty: Decimal::from_parts(l.qty.mantissa() + 1, spec.qty_decimals),
                ..l
            },
            wrong[0].flags,
            0,
            0,
        )
        .unwrap();
        let mut bad = all.clone();
        bad[5] = &wrong;
        assert!(!check(&bad).violations().is_empty());
        // The same loss flagged in band (Gap, Resync) and followed by a snapshot: clean.
        let flagged = [status(StatusKind::Gap, id), status(StatusKind::Resync, id)];
        let resnap = feed(&venue, id, 200, 5);
        let mut ok: Vec<&[Event]> = all[..20].to_vec();
        ok.push(&flagged);
        ok.extend(all[21..].iter().copied());
        ok.extend(resnap.iter().map(Vec::as_slice));
        let m = check(&ok);
        m.assert_clean();
        assert_eq!(m.checked().skipped_invalid, 20);
        // Trade ids: a jump needs a status in between.
        let trade = |tid| {
            let t = Trade {
                price: Decimal::from_parts(1, 0),
                qty: Decimal::from_parts(1, 0),
                side: Side::Buy,
                id: tid,
            };
            Event::trade(id, t, 0, 0).unwrap()
        };
        let (t1, t2, t4) = (trade(1), trade(2), trade(4));
        let d = status(StatusKind::Disconnected, InstrumentId::NONE);
        assert!(check(&[&[t1, t2, t4]]).violations().len() == 1);
        check(&[&[t1, t2, d, t4]]).assert_clean();
    }

    #[test]
    fn model_lookups_follow_the_tape() {
        let mut c = VenueConfig::new(Market::UsdM);
        c.tape_len = 256;
        let venue = Venue::new(&c).unwrap();
        let tape = venue.tape(0);
        let mut diffs = 0;
        for pos in 0..600u64 {
            if tape.step(pos).kind != StepKind::Depth {
                continue;
            }
            diffs += 1;
            let (_, u, pu) = tape.depth_ids(pos);
            assert_eq!(model_prev(&venue, 0, u), Some(pu));
            assert_eq!(model_book(&venue, 0, u), Some(tape.book_after(pos + 1)));
            // An id inside a diff's range (or skipped) is no book state.
            if u > pu + 1 {
                assert_eq!(model_book(&venue, 0, u - 1), None);
            }
        }
        assert!(diffs > 100);
    }
}
