//! The fast path: a hand scanner for the four hot message types (`depthUpdate`, `trade`,
//! `aggTrade`, `bookTicker`) in the strict subset of JSON that Binance sends: no
//! whitespace, no string escapes, ASCII strings, non-negative integers without leading zeros,
//! each known key once, bids before asks.
//!
//! It reads the payload once, left to right, and never decides anything it is unsure of: on
//! any input outside that subset (including every malformed one) it answers `None` and the
//! simd-json path decodes the frame instead, so errors are always classified by simd-json.
//! When it answers, its events, frame and counters are exactly the simd-json path's — the
//! `binance_decode` fuzz target and a property test check that on every input they see.
//!
//! Two walkers: [`hot`] first, for the exact shapes Binance and mdload send (known keys
//! only, typed values, levels built complete; every real message), then the general one
//! below (any key order, unknown keys counted and skipped, nested values), which reads the
//! frame again from the start when the hot one declines.

use tickwire_engine::adapter::{DiffIds, Frame};
use tickwire_engine::decimal::eight_digits;
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId};

use super::config::TimeUnit;
use super::number::binance_decimal;
use super::symbols::Symbols;

pub(crate) mod hot;
// `sse_scan`: the build targets x86-64 with SSSE3 and SSE4.1 (set by `build.rs`).
#[cfg(sse_scan)]
#[allow(unsafe_code)]
pub(crate) mod simd;

/// Nesting allowed inside skipped values.
const MAX_DEPTH: u32 = 16;

/// A field's value as far as the scanner needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Val {
    #[default]
    Absent,
    Num(u64),
    Str(u32, u32),
    Bool(bool),
    /// A `[[p,q],...]` array, already parsed into events.
    Levels,
    /// Any other value (object, other array, null).
    Other,
}

#[derive(Default)]
struct Fields {
    e: Val,
    big_e: Val,
    big_t: Val,
    s: Val,
    big_u: Val,
    u: Val,
    pu: Val,
    t: Val,
    p: Val,
    q: Val,
    m: Val,
    a: Val,
    b: Val,
    big_a: Val,
    big_b: Val,
    ts: Val,
    /// `result`, `id`, `code`, `error` or `lastUpdateId` seen (control messages: slow path).
    control: bool,
    /// This is the envelope's `data` object and it was read.
    present: bool,
    seen: u32,
    unknown: u64,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

const ZEROS: u64 = 0x3030_3030_3030_3030;

const POW10: [i64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

#[inline(always)]
fn load8(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn lanes(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// Flags (high bit of each byte) the bytes of `x` equal to `b`; exact for the lowest one.
#[inline(always)]
fn eq_mask(x: u64, b: u8) -> u64 {
    let v = x ^ lanes(b);
    v.wrapping_sub(lanes(1)) & !v & lanes(0x80)
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string at the cursor (opening quote included); returns its content's span. Bails on
    /// escapes, control characters and non-ASCII bytes.
    #[inline(always)]
    fn string(&mut self) -> Option<(u32, u32)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut i = start;
        while i + 8 <= self.b.len() {
            let mut a = [0u8; 8];
            a.copy_from_slice(&self.b[i..i + 8]);
            let x = u64::from_le_bytes(a);
            // Quote, backslash, byte < 0x20 or >= 0x80: the first one decides.
            let special = eq_mask(x, b'"')
                | eq_mask(x, b'\\')
                | (x.wrapping_sub(lanes(0x20)) & !x & lanes(0x80))
                | (x & lanes(0x80));
            if special != 0 {
                i += (special.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        loop {
            let c = *self.b.get(i)?;
            if c == b'"' {
                self.i = i + 1;
                return Some((start as u32, i as u32));
            }
            if c == b'\\' || !(0x20..0x80).contains(&c) {
                return None;
            }
            i += 1;
        }
    }

    /// A string holding a decimal, parsed where it lies: the quote and the point are found
    /// with two 8-byte loads, and the integer and fraction digits (at most 8 each) are read
    /// through one 8-byte window each, straight from the buffer. Anything else (sign,
    /// exponent, longer text, the end of the buffer near) goes through [`Cursor::string`]
    /// and [`Decimal::parse`]; both give the same value.
    #[inline(always)]
    fn quoted_decimal(&mut self) -> Option<Decimal> {
        if let Some(d) = self.quoted_decimal_fast() {
            return Some(d);
        }
        let (ps, pe) = self.string()?;
        binance_decimal(&self.b[ps as usize..pe as usize])
    }

    #[inline(always)]
    fn quoted_decimal_fast(&mut self) -> Option<Decimal> {
        let s = self.i + 1;
        // Room for the int window before the text and a full fraction window after the point.
        if s < 8 || s + 24 > self.b.len() || self.b[self.i] != b'"' {
            return None;
        }
        let x0 = load8(&self.b[s..]);
        let x1 = load8(&self.b[s + 8..]);
        let (q0, q1) = (eq_mask(x0, b'"'), eq_mask(x1, b'"'));
        let len = if q0 != 0 {
            q0.trailing_zeros() / 8
        } else if q1 != 0 {
            8 + q1.trailing_zeros() / 8
        } else {
            return None;
        } as usize;
        let (d0, d1) = (eq_mask(x0, b'.'), eq_mask(x1, b'.'));
        let dot = if d0 != 0 {
            d0.trailing_zeros() / 8
        } else if d1 != 0 {
            8 + d1.trailing_zeros() / 8
        } else {
            64
        } as usize;
        let (int_len, frac_len) = if dot < len {
            // A point with no digit after it (`"1."`) is not a number Binance sends.
            if dot + 1 == len {
                return None;
            }
            (dot, len - dot - 1)
        } else {
            (len, 0)
        };
        // A leading zero before another integer digit is not a number Binance sends.
        if int_len == 0 || int_len > 8 || frac_len > 8 || (int_len > 1 && self.b[s] == b'0') {
            return None;
        }
        // Integer digits: the 8 bytes ending at the point (or the quote), the bytes before
        // the digits replaced by '0'.
        let end = s + int_len;
        let keep = u64::MAX << (8 * (8 - int_len));
        let iv = eight_digits((load8(&self.b[end - 8..]) & keep) | (ZEROS & !keep))?;
        let fv = if frac_len == 0 {
            0
        } else {
            // Fraction digits: the 8 bytes after the point, shifted so they end the word.
            let shift = 8 * (8 - frac_len);
            eight_digits((load8(&self.b[end + 1..]) << shift) | (ZEROS & ((1u64 << shift) - 1)))?
        };
        self.i = s + len + 1;
        // At most 16 digits: no overflow.
        let m = iv as i64 * POW10[frac_len] + fv as i64;
        Some(Decimal::from_parts(m, frac_len as u8))
    }

    /// A non-negative integer of at most 19 digits, no leading zero, not followed by a
    /// fraction or exponent.
    #[inline(always)]
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        // Eight digits at a time (two windows at most: 16 digits < 10^16), then bytes.
        while self.i - start <= 8 && self.i + 8 <= self.b.len() {
            match eight_digits(load8(&self.b[self.i..])) {
                Some(d) => {
                    v = v * 100_000_000 + d;
                    self.i += 8;
                }
                None => break,
            }
        }
        while let Some(c) = self.peek() {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if self.i - start == 19 {
                return None; // 20 digits or more: may not fit
            }
            // At most 19 digits: below 10^19 < 2^64.
            v = v * 10 + d as u64;
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || (n > 1 && self.b[start] == b'0') {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(v)
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A value expected to be a string, number or boolean (the fields the scanner reads),
    /// without the recursive call; anything else goes through [`Cursor::value`].
    #[inline(always)]
    fn scalar(&mut self) -> Option<Val> {
        match self.peek()? {
            b'"' => self.string().map(|(s, e)| Val::Str(s, e)),
            b'0'..=b'9' => self.number().map(Val::Num),
            _ => self.value(1),
        }
    }

    /// Any value, validated within the subset, recorded coarsely.
    fn value(&mut self, depth: u32) -> Option<Val> {
        match self.peek()? {
            b'"' => self.string().map(|(s, e)| Val::Str(s, e)),
            b'0'..=b'9' => self.number().map(Val::Num),
            b't' => self.literal(b"true").map(|()| Val::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Val::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Val::Other),
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(Val::Other);
                }
                loop {
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Val::Other);
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.eat(b'}').is_some() {
                    return Some(Val::Other);
                }
                loop {
                    self.string()?;
                    self.eat(b':')?;
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Val::Other);
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// `[["p","q"],...]` into level events (instrument, seq and time patched later).
    #[inline(always)]
    fn levels(&mut self, side: Side, recv_ts: u64, out: &mut Vec<Event>) -> Option<Val> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(Val::Levels);
        }
        loop {
            self.eat(b'[')?;
            let price = self.quoted_decimal()?;
            self.eat(b',')?;
            let qty = self.quoted_decimal()?;
            self.eat(b']')?;
            let level = Level {
                side,
                price,
                qty,
                seq: 0,
            };
            out.push(Event::level(InstrumentId::NONE, level, Flags::EMPTY, 0, recv_ts).ok()?);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Val::Levels);
                }
                _ => return None,
            }
        }
    }
}

/// Reads one object's fields (the cursor at its `{`). `top`: the envelope level, where
/// `data` holds the payload object.
fn object(
    c: &mut Cursor<'_>,
    f: &mut Fields,
    mut inner: Option<&mut Fields>,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Option<()> {
    c.eat(b'{')?;
    if c.eat(b'}').is_some() {
        return Some(());
    }
    loop {
        let (ks, ke) = c.string()?;
        c.eat(b':')?;
        let key = &c.b[ks as usize..ke as usize];
        let (bit, slot): (u32, Option<&mut Val>) = match (key.len(), key.first()) {
            (1, Some(&k)) => match k {
                b'e' => (0, Some(&mut f.e)),
                b'E' => (1, Some(&mut f.big_e)),
                b'T' => (2, Some(&mut f.big_t)),
                b's' => (3, Some(&mut f.s)),
                b'U' => (4, Some(&mut f.big_u)),
                b'u' => (5, Some(&mut f.u)),
                b't' => (7, Some(&mut f.t)),
                b'p' => (8, Some(&mut f.p)),
                b'q' => (9, Some(&mut f.q)),
                b'm' => (10, Some(&mut f.m)),
                b'a' => (11, None),
                b'b' => (12, None),
                b'A' => (13, Some(&mut f.big_a)),
                b'B' => (14, Some(&mut f.big_b)),
                // Known and unused: aggTrade first/last trade ids, "ignore", trade type.
                b'f' | b'l' | b'M' | b'X' => (18, None),
                _ => (31, None),
            },
            _ => match key {
                b"pu" => (6, Some(&mut f.pu)),
                b"ts" => (15, Some(&mut f.ts)),
                b"result" | b"id" | b"code" | b"error" | b"lastUpdateId" => {
                    f.control = true;
                    (16, None)
                }
                b"data" => (17, None),
                b"stream" | b"msg" => (18, None),
                _ => (31, None),
            },
        };
        if bit < 18 {
            if f.seen & (1 << bit) != 0 {
                return None; // duplicate key: leave it to the full parser
            }
            f.seen |= 1 << bit;
        }
        match (bit, slot) {
            (_, Some(slot)) => *slot = c.scalar()?,
            (11 | 12, None) => {
                let is_bids = bit == 12;
                let v = if c.peek()? == b'[' {
                    if !is_bids && f.b == Val::Absent {
                        // Asks first: events would come out of order.
                        c.value(1)?;
                        Val::Other
                    } else {
                        let side = if is_bids { Side::Buy } else { Side::Sell };
                        c.levels(side, recv_ts, out)?
                    }
                } else {
                    c.value(1)?
                };
                if is_bids {
                    f.b = v;
                } else {
                    f.a = v;
                }
            }
            (17, None) if inner.is_some() => {
                if c.peek()? != b'{' {
                    return None;
                }
                let d = inner.as_deref_mut()?;
                object(c, d, None, recv_ts, out)?;
                d.present = true;
            }
            (31, None) => {
                f.unknown += 1;
                c.value(1)?;
            }
            _ => {
                c.value(1)?;
            }
        }
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

#[inline(always)]
fn num(v: Val) -> Option<u64> {
    match v {
        Val::Num(n) => Some(n),
        _ => None,
    }
}

#[inline(always)]
fn text(b: &[u8], v: Val) -> Option<&[u8]> {
    match v {
        Val::Str(s, e) => Some(&b[s as usize..e as usize]),
        _ => None,
    }
}

#[inline(always)]
fn decimal(b: &[u8], v: Val) -> Option<Decimal> {
    binance_decimal(text(b, v)?)
}

/// What the simd-json path computes for `exchange_ts`, or `None` where it errs.
#[inline(always)]
fn exchange_ts(f: &Fields, primary: Val, unit: TimeUnit, probe: bool) -> Option<u64> {
    if probe {
        if let Val::Num(ts) = f.ts {
            return Some(ts);
        }
    }
    let field = if primary != Val::Absent {
        primary
    } else {
        f.big_e
    };
    match field {
        Val::Absent => Some(0),
        Val::Num(t) => t.checked_mul(unit.ns()),
        _ => None,
    }
}

/// The unknown-field count [`scan`] returns when the hot path answered (it has none).
pub(super) const HOT: u64 = u64::MAX;

/// Decodes `payload` if it is a hot message in the strict subset; `None` otherwise (with
/// `out` as it was). Returns the frame and the unknown-field count to add ([`HOT`]: none,
/// and the hot path answered).
pub(super) fn scan(
    payload: &[u8],
    symbols: &mut Symbols,
    unit: TimeUnit,
    probe: bool,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Option<(Frame, u64)> {
    let start = out.len();
    if let Some(frame) = hot::scan(payload, symbols, unit, probe, recv_ts, out) {
        return Some((frame, HOT));
    }
    out.truncate(start);
    let r = scan_inner(payload, symbols, unit, probe, recv_ts, out, start);
    if r.is_none() {
        out.truncate(start);
    }
    r
}

/// The hot path alone (tests: it must answer for every real shape, and agree).
#[cfg(test)]
pub(super) fn hot_only(
    payload: &[u8],
    symbols: &mut Symbols,
    unit: TimeUnit,
    probe: bool,
    out: &mut Vec<Event>,
) -> Option<Frame> {
    hot::scan(payload, symbols, unit, probe, 9, out)
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn scan_inner(
    b: &[u8],
    symbols: &mut Symbols,
    unit: TimeUnit,
    probe: bool,
    recv_ts: u64,
    out: &mut Vec<Event>,
    start: usize,
) -> Option<(Frame, u64)> {
    let mut c = Cursor { b, i: 0 };
    let mut top = Fields::default();
    let mut data = Fields::default();
    object(&mut c, &mut top, Some(&mut data), recv_ts, out)?;
    if c.i != b.len() {
        return None;
    }
    let f = if data.present {
        // Levels read from the envelope level would not belong to the payload.
        if top.a == Val::Levels || top.b == Val::Levels {
            return None;
        }
        &data
    } else {
        &top
    };
    let kind = match f.e {
        Val::Str(s, e) => &b[s as usize..e as usize],
        Val::Absent
            if !f.control && f.u != Val::Absent && f.b != Val::Absent && f.big_a != Val::Absent =>
        {
            b"bookTicker"
        }
        _ => return None,
    };
    // Events parsed from "b"/"a" arrays only stand for a depth update.
    if kind != b"depthUpdate" && out.len() != start {
        return None;
    }
    let instrument = symbols.get(text(b, f.s)?)?;
    let frame = match kind {
        b"depthUpdate" => {
            if f.b != Val::Levels || f.a != Val::Levels {
                return None;
            }
            let first = num(f.big_u)?;
            let last = num(f.u)?;
            let prev = match f.pu {
                Val::Absent => None,
                v => Some(num(v)?),
            };
            let ts = exchange_ts(f, f.big_e, unit, probe)?;
            for e in &mut out[start..] {
                e.instrument = instrument;
                e.seq = last;
                e.exchange_ts = ts;
            }
            if let Some(e) = out[start..].last_mut() {
                e.flags = Flags::LAST_IN_BATCH;
            }
            Frame::BookDiff {
                instrument,
                ids: DiffIds { first, last, prev },
                checksum: None,
            }
        }
        b"trade" | b"aggTrade" => {
            let agg = kind == b"aggTrade";
            let id = num(if agg { f.a } else { f.t })?;
            let price = decimal(b, f.p)?;
            let qty = decimal(b, f.q)?;
            let side = match f.m {
                Val::Bool(true) => Side::Sell,
                Val::Bool(false) => Side::Buy,
                _ => return None,
            };
            let ts = exchange_ts(f, f.big_t, unit, probe)?;
            let t = Trade {
                price,
                qty,
                side,
                id,
            };
            let mut e = Event::trade(instrument, t, ts, recv_ts).ok()?;
            if agg {
                e.flags = Flags::AGGREGATED;
            }
            out.push(e);
            Frame::Market
        }
        b"bookTicker" => {
            let seq = num(f.u)?;
            let bbo = Bbo {
                bid_price: decimal(b, f.b)?,
                bid_qty: decimal(b, f.big_b)?,
                ask_price: decimal(b, f.a)?,
                ask_qty: decimal(b, f.big_a)?,
                seq,
            };
            let ts = exchange_ts(f, f.big_e, unit, probe)?;
            out.push(Event::bbo(instrument, bbo, ts, recv_ts).ok()?);
            Frame::Market
        }
        _ => return None,
    };
    Some((frame, f.unknown))
}
