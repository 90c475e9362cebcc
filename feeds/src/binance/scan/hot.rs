//! The hot shapes, tried before the general walker: one object (raw, or as the `data` of a
//! `{"stream":"..","data":{..}}` envelope) whose keys are all ones the four hot messages
//! use, each once, each holding the type of value its key implies: numbers for ids and
//! times, decimal strings for prices and quantities (parsed where they lie, in one pass),
//! `["p","q"]` pairs for depth levels. Every message Binance and mdload send has that shape,
//! in whatever key order.
//!
//! Keys are recognised with one 4-byte compare (`"k":`) instead of a string scan, and a
//! depth diff's level events are built complete as they are read (symbol, final id and time
//! come before the levels in every real shape), so nothing is patched afterwards.
//!
//! Anything else (other keys, other value types, duplicates, asks before bids, a header
//! field after the levels that would change them) is `None`, and the general walker reads
//! the frame from the start: this path only ever answers where the result is plain.

use tickwire_engine::adapter::{DiffIds, Frame};
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId};

use super::super::config::TimeUnit;
use super::super::symbols::Symbols;
use super::{Cursor, POW10, ZEROS, eq_mask, lanes};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No `e` (yet): spot's bookTicker has none.
    Untyped,
    Depth,
    Trade,
    AggTrade,
    BookTicker,
}

// One bit per key (duplicates go to the general walker) and per kind of value `a`/`b` held.
const K_E: u32 = 1 << 0;
const K_BIG_E: u32 = 1 << 1;
const K_BIG_T: u32 = 1 << 2;
const K_S: u32 = 1 << 3;
const K_BIG_U: u32 = 1 << 4;
const K_U: u32 = 1 << 5;
const K_PU: u32 = 1 << 6;
const K_T: u32 = 1 << 7;
const K_P: u32 = 1 << 8;
const K_Q: u32 = 1 << 9;
const K_M: u32 = 1 << 10;
const K_A: u32 = 1 << 11;
const K_B: u32 = 1 << 12;
const K_BIG_A: u32 = 1 << 13;
const K_BIG_B: u32 = 1 << 14;
const K_TS: u32 = 1 << 15;
const K_F: u32 = 1 << 16;
const K_L: u32 = 1 << 17;
const K_BIG_M: u32 = 1 << 18;
const K_X: u32 = 1 << 19;
const A_NUM: u32 = 1 << 20;
const A_DEC: u32 = 1 << 21;
const A_LEVELS: u32 = 1 << 22;
const B_DEC: u32 = 1 << 23;
const B_LEVELS: u32 = 1 << 24;

/// [`Cursor::key`]'s codes for the two-letter keys (one-letter keys are their byte).
const PU: u8 = b'P';
const TS: u8 = b'Z';

/// What one message's keys held.
struct Msg {
    kind: Kind,
    seen: u32,
    big_e: u64,
    big_t: u64,
    big_u: u64,
    u: u64,
    pu: u64,
    t: u64,
    a_id: u64,
    ts: u64,
    s: (usize, usize),
    p: Decimal,
    q: Decimal,
    a: Decimal,
    b: Decimal,
    big_a: Decimal,
    big_b: Decimal,
    m: bool,
    /// Depth only: resolved when the first level array is reached.
    instrument: InstrumentId,
    /// Depth only: the levels' `exchange_ts`.
    depth_ts: u64,
    /// Depth only: the symbol was not in the table when the levels were read.
    unresolved: bool,
}

/// Sets `bit` in `seen`, or `None` if it was set (a duplicate key).
#[inline(always)]
fn mark(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// Flags the bytes of `v` (text XOR `'0'`s) that were not ASCII digits; exact for the
/// lowest one (a carry only leaves a flagged byte).
#[inline(always)]
fn non_digits(v: u64) -> u64 {
    (v.wrapping_add(lanes(0x76)) | v) & lanes(0x80)
}

/// The number in the first `n` (1 to 8) bytes of `v` (text XOR `'0'`s, those bytes digits):
/// they are moved to the top of the word (the zero bytes below read as leading zeros) and
/// combined pairwise, then by fours, then by eights.
#[inline(always)]
fn leading_digits(v: u64, n: usize) -> u64 {
    let v = v << (8 * (8 - n) as u32);
    let v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// The fast decimal of one 18-byte window (opening quote first): the text's length and
/// its value, or `None` where [`Cursor::quoted_decimal`] must decide. SSE where the build
/// has it, SWAR elsewhere; both answer alike on every window (tested).
#[inline(always)]
pub(super) fn window_decimal(w: &[u8; 18]) -> Option<(usize, Decimal)> {
    #[cfg(sse_scan)]
    {
        super::simd::window_decimal(w)
    }
    #[cfg(not(sse_scan))]
    {
        window_decimal_swar(w)
    }
}

/// An integer of 1 to 15 digits at the start of `w` (see [`Cursor::number`]): its length
/// and value, or `None` where [`Cursor::number`] must decide. SSE where the build has it,
/// SWAR elsewhere; both answer alike on every window (tested).
#[inline(always)]
pub(super) fn window_uint(w: &[u8; 17]) -> Option<(usize, u64)> {
    #[cfg(sse_scan)]
    {
        super::simd::uint(w)
    }
    #[cfg(not(sse_scan))]
    {
        window_uint_swar(w)
    }
}

/// [`window_uint`] in SWAR: a non-digit mask per word, each word converted in one step.
#[cfg_attr(sse_scan, allow(dead_code))]
#[inline(always)]
pub(super) fn window_uint_swar(w: &[u8; 17]) -> Option<(usize, u64)> {
    let x0 = u64::from_le_bytes(w[0..8].try_into().ok()?) ^ ZEROS;
    let n0 = non_digits(x0);
    let (v, len) = if n0 != 0 {
        let len = (n0.trailing_zeros() / 8) as usize;
        if len == 0 {
            return None;
        }
        (leading_digits(x0, len), len)
    } else {
        let x1 = u64::from_le_bytes(w[8..16].try_into().ok()?) ^ ZEROS;
        let n1 = non_digits(x1);
        let len = (n1.trailing_zeros() / 8) as usize;
        // 16 digits or more (`len` 8): left to the general parser.
        if len >= 8 {
            return None;
        }
        let high = leading_digits(x0, 8) * POW10[len] as u64;
        if len == 0 {
            (high, 8)
        } else {
            (high + leading_digits(x1, len), 8 + len)
        }
    };
    if (len > 1 && w[0] == b'0') || matches!(w[len], b'.' | b'e' | b'E') {
        return None;
    }
    Some((len, v))
}

/// [`window_decimal`] in SWAR: the closing quote first (one mask over two words), then
/// each part checked by a non-digit mask and converted in one step.
#[cfg_attr(sse_scan, allow(dead_code))]
#[inline(always)]
pub(crate) fn window_decimal_swar(w: &[u8; 18]) -> Option<(usize, Decimal)> {
    if w[0] != b'"' {
        return None;
    }
    let lo = u64::from_le_bytes(w[1..9].try_into().ok()?);
    let hi = u64::from_le_bytes(w[9..17].try_into().ok()?);
    // The closing quote first, from the two words alone: where the next value starts
    // does not wait for the digits (the level loop is bound by that chain).
    let quotes = (eq_mask(hi, b'"') as u128) << 64 | eq_mask(lo, b'"') as u128;
    let len = (quotes.trailing_zeros() / 8) as usize;
    if len == 0 || (len == 16 && w[17] != b'"') {
        return None;
    }
    let x0 = lo ^ ZEROS;
    // 0 when there are 8 integer digits or more: left to the general parser.
    let int_len = (non_digits(x0).trailing_zeros() / 8) as usize & 7;
    // No digits, or a leading zero before another digit (not a number Binance sends).
    if int_len == 0 || (int_len > 1 && w[1] == b'0') {
        return None;
    }
    let int = leading_digits(x0, int_len);
    if int_len == len {
        return Some((len, Decimal::from_parts(int as i64, 0)));
    }
    let frac_len = len - int_len - 1;
    if w[1 + int_len] != b'.' || frac_len == 0 {
        return None;
    }
    let f = int_len + 2;
    let x1 = u64::from_le_bytes(w[f..f + 8].try_into().ok()?) ^ ZEROS;
    // Every fraction byte a digit (the first non-digit is the quote, or further).
    if ((non_digits(x1).trailing_zeros() / 8) as usize) < frac_len {
        return None;
    }
    let frac = leading_digits(x1, frac_len);
    // At most 7 + 8 digits: no overflow.
    let m = int as i64 * POW10[frac_len] + frac as i64;
    Some((len, Decimal::from_parts(m, frac_len as u8)))
}

impl Cursor<'_> {
    /// `"digits[.digits]"` with 1 to 7 integer and 1 to 8 fraction digits (or none, and no
    /// point), read through one 18-byte window: the closing quote is found first (one mask
    /// over two words), then each part is checked by a non-digit mask and converted in one
    /// SWAR step. Anything else goes to [`Cursor::quoted_decimal`]; both give what
    /// [`Decimal::parse`] gives.
    #[inline(always)]
    fn decimal(&mut self) -> Option<Decimal> {
        if let Some(d) = self.decimal_fast() {
            return Some(d);
        }
        self.decimal_slow()
    }

    #[cold]
    #[inline(never)]
    fn decimal_slow(&mut self) -> Option<Decimal> {
        self.quoted_decimal()
    }

    #[cold]
    #[inline(never)]
    fn uint_slow(&mut self) -> Option<u64> {
        self.number()
    }

    /// Near the end: the bytes left, padded with zero bytes (never a digit, point or
    /// quote, so a decimal that would run past the end is refused).
    #[cold]
    #[inline(never)]
    fn tail18(&self) -> [u8; 18] {
        let mut w = [0u8; 18];
        let rest = self.b.get(self.i..).unwrap_or_default();
        let n = rest.len().min(18);
        w[..n].copy_from_slice(&rest[..n]);
        w
    }

    #[inline(always)]
    fn decimal_fast(&mut self) -> Option<Decimal> {
        // Quote, 7 + 1 + 8 characters at most, quote: every read below is inside `w`.
        let tail;
        let w: &[u8; 18] = match self.b.get(self.i..self.i + 18) {
            Some(w) => w.try_into().ok()?,
            None => {
                tail = self.tail18();
                &tail
            }
        };
        let (len, d) = window_decimal(w)?;
        self.i += len + 2;
        Some(d)
    }

    /// [`Cursor::number`] for up to 15 digits with masks instead of a digit loop.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        // 16 digits and the byte after them.
        let Some(w) = self.b.get(self.i..self.i + 17) else {
            return self.uint_slow();
        };
        let w: &[u8; 17] = w.try_into().ok()?;
        match window_uint(w) {
            Some((len, v)) => {
                self.i += len;
                Some(v)
            }
            None => self.uint_slow(),
        }
    }

    /// `true` or `false`.
    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// The key at the cursor and its colon: one-letter keys as their byte, `pu` and `ts`
    /// as [`PU`] and [`TS`] (so the one-letter keys `P` and `Z` are `None`, as is any key
    /// the hot messages do not use).
    #[inline(always)]
    fn key(&mut self) -> Option<u8> {
        let w = self.b.get(self.i..self.i + 4)?;
        let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        // `"k":`
        if w & 0xFFFF_00FF == 0x3A22_0022 {
            let k = (w >> 8) as u8;
            if k == PU || k == TS {
                return None;
            }
            self.i += 4;
            return Some(k);
        }
        let k = match self.b.get(self.i..self.i + 5)? {
            b"\"pu\":" => PU,
            b"\"ts\":" => TS,
            _ => return None,
        };
        self.i += 5;
        Some(k)
    }
}

/// `[["p","q"],...]` at `c` into complete level events. Not inlined, and on a cursor of its
/// own: the loop keeps its position and constants in registers.
///
/// Bound by the latency of each level's conversions more than by instructions: taking 9 %
/// of the instructions out (the shuffle table) changed nothing, while converting before the
/// point's position is known ([`super::simd::Shape`]) took 9 % off the time. Measured slower:
/// quote bitmasks 64 bytes ahead, by SWAR (+50 instructions a level) and by SSE walked bit
/// by bit (+35), ends found from the digit masks alone (a chain one load longer), and
/// decimals read through the 16 bytes ending at their closing quote (more bounds checks).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn level_events(
    c: &mut Cursor<'_>,
    side: Side,
    instrument: InstrumentId,
    seq: u64,
    exchange_ts: u64,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Option<()> {
    let mut l = Cursor { b: c.b, i: c.i };
    l.eat(b'[')?;
    // Every level differs from this one only in price and quantity.
    let template = Event::level(
        instrument,
        Level {
            side,
            price: Decimal::ZERO,
            qty: Decimal::ZERO,
            seq,
        },
        Flags::EMPTY,
        exchange_ts,
        recv_ts,
    )
    .ok()?;
    if l.eat(b']').is_none() {
        #[cfg(sse_scan)]
        let mut shapes = [super::simd::Shape::new(); 2];
        loop {
            #[cfg(sse_scan)]
            let fast = super::simd::level(l.b, l.i, &mut shapes);
            #[cfg(not(sse_scan))]
            let fast = None;
            // The level, and the byte after it (its separator).
            let (price, qty, end, sep) = match fast {
                Some(x) => x,
                None => {
                    let (p, q, end) = level_fields(&l)?;
                    (p, q, end, *l.b.get(end)?)
                }
            };
            out.push(template.with_level(price, qty).ok()?);
            l.i = end + 1;
            match sep {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    c.i = l.i;
    Some(())
}

/// One level `["p","q"]` at the cursor read field by field (where the one-mask read
/// declines, or without SSE): its price, quantity and the index past its `]`. Out of line
/// where the one-mask read exists, so the level loop keeps its registers for that shape.
#[cfg_attr(sse_scan, cold, inline(never))]
#[cfg_attr(not(sse_scan), inline(always))]
fn level_fields(c: &Cursor<'_>) -> Option<(Decimal, Decimal, usize)> {
    let mut l = Cursor { b: c.b, i: c.i };
    l.eat(b'[')?;
    let price = l.decimal()?;
    l.eat(b',')?;
    let qty = l.decimal()?;
    l.eat(b']')?;
    Some((price, qty, l.i))
}

/// What the general path computes for `exchange_ts` (`primary`: the kind's own time field,
/// if seen), or `None` where it errs.
#[inline(always)]
fn exchange_ts(m: &Msg, primary: Option<u64>, unit: TimeUnit, probe: bool) -> Option<u64> {
    if probe && m.seen & K_TS != 0 {
        return Some(m.ts);
    }
    let field = match primary {
        Some(t) => t,
        None if m.seen & K_BIG_E != 0 => m.big_e,
        None => return Some(0),
    };
    field.checked_mul(unit.ns())
}

/// What the hot path needs to read a value: the symbol table, the time settings and where
/// level events go.
struct Ctx<'a> {
    symbols: &'a mut Symbols,
    unit: TimeUnit,
    probe: bool,
    recv_ts: u64,
    out: &'a mut Vec<Event>,
}

/// Reads the value of key `k` (the cursor just past its colon) into `m`. Inlined with a
/// constant `k` where the order is predicted, so only that key's arm is left.
#[inline(always)]
fn field(c: &mut Cursor<'_>, m: &mut Msg, k: u8, x: &mut Ctx<'_>) -> Option<()> {
    let (symbols, unit, probe) = (&mut *x.symbols, x.unit, x.probe);
    match k {
        b'e' => {
            mark(&mut m.seen, K_E)?;
            m.kind = match c.b.get(c.i + 1)? {
                b'd' => c.literal(b"\"depthUpdate\"").map(|()| Kind::Depth)?,
                b't' => c.literal(b"\"trade\"").map(|()| Kind::Trade)?,
                b'a' => c.literal(b"\"aggTrade\"").map(|()| Kind::AggTrade)?,
                b'b' => c.literal(b"\"bookTicker\"").map(|()| Kind::BookTicker)?,
                _ => return None,
            };
        }
        b'E' => {
            mark(&mut m.seen, K_BIG_E)?;
            m.big_e = c.uint()?;
        }
        b'T' => {
            mark(&mut m.seen, K_BIG_T)?;
            m.big_t = c.uint()?;
        }
        b's' => {
            mark(&mut m.seen, K_S)?;
            let (s, e) = c.string()?;
            m.s = (s as usize, e as usize);
        }
        b'U' => {
            mark(&mut m.seen, K_BIG_U)?;
            m.big_u = c.uint()?;
        }
        b'u' => {
            mark(&mut m.seen, K_U)?;
            m.u = c.uint()?;
        }
        PU => {
            mark(&mut m.seen, K_PU)?;
            m.pu = c.uint()?;
        }
        b't' => {
            mark(&mut m.seen, K_T)?;
            m.t = c.uint()?;
        }
        TS => {
            // With the probe on, a `ts` after the levels would change their time.
            if probe && m.seen & (A_LEVELS | B_LEVELS) != 0 {
                return None;
            }
            mark(&mut m.seen, K_TS)?;
            m.ts = c.uint()?;
        }
        b'f' => {
            mark(&mut m.seen, K_F)?;
            c.uint()?;
        }
        b'l' => {
            mark(&mut m.seen, K_L)?;
            c.uint()?;
        }
        b'p' => {
            mark(&mut m.seen, K_P)?;
            m.p = c.decimal()?;
        }
        b'q' => {
            mark(&mut m.seen, K_Q)?;
            m.q = c.decimal()?;
        }
        b'A' => {
            mark(&mut m.seen, K_BIG_A)?;
            m.big_a = c.decimal()?;
        }
        b'B' => {
            mark(&mut m.seen, K_BIG_B)?;
            m.big_b = c.decimal()?;
        }
        b'm' => {
            mark(&mut m.seen, K_M)?;
            m.m = c.boolean()?;
        }
        b'M' => {
            mark(&mut m.seen, K_BIG_M)?;
            c.boolean()?;
        }
        b'X' => {
            mark(&mut m.seen, K_X)?;
            c.string()?;
        }
        b'a' | b'b' => {
            let bids = k == b'b';
            mark(&mut m.seen, if bids { K_B } else { K_A })?;
            match c.peek()? {
                b'"' => {
                    let d = c.decimal()?;
                    if bids {
                        m.b = d;
                        m.seen |= B_DEC;
                    } else {
                        m.a = d;
                        m.seen |= A_DEC;
                    }
                }
                b'0'..=b'9' if !bids => {
                    m.a_id = c.uint()?;
                    m.seen |= A_NUM;
                }
                b'[' if m.kind == Kind::Depth => {
                    if m.seen & (A_LEVELS | B_LEVELS) == 0 {
                        // The first level array: symbol, final id and time are known
                        // (and later keys cannot change them: duplicates and a late
                        // probe `ts` are refused).
                        let timed = m.seen & K_BIG_E != 0 || (probe && m.seen & K_TS != 0);
                        if !bids || m.seen & (K_S | K_U) != K_S | K_U || !timed {
                            return None;
                        }
                        // A symbol the table does not hold yet (an interning table's
                        // first sight) is resolved, and patched in, once the whole
                        // message has been read, as the general path would.
                        match symbols.known(&c.b[m.s.0..m.s.1]) {
                            Some(id) => m.instrument = id,
                            None => m.unresolved = true,
                        }
                        m.depth_ts = exchange_ts(m, None, unit, probe)?;
                    }
                    let side = if bids { Side::Buy } else { Side::Sell };
                    level_events(c, side, m.instrument, m.u, m.depth_ts, x.recv_ts, x.out)?;
                    m.seen |= if bids { B_LEVELS } else { A_LEVELS };
                }
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(())
}

/// Reads the payload object's keys (the cursor just past its `{`) through its `}`, in any
/// order; after the first key, the venue's own order is tried first ([`predicted`]).
#[inline(always)]
fn fields(c: &mut Cursor<'_>, m: &mut Msg, x: &mut Ctx<'_>) -> Option<()> {
    let k = c.key()?;
    field(c, m, k, x)?;
    predicted(c, m, x)?;
    loop {
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                return Some(());
            }
            _ => return None,
        }
        let k = c.key()?;
        field(c, m, k, x)?;
    }
}

/// Reads the keys that follow, as long as they come in the order Binance sends them for the
/// message's kind (spot or USD-M, venues.md §1–2): each is recognised by one compare of
/// `,"k":` with no dispatch on the key. At the first other key (or the end) it returns with
/// the cursor on the separator, and [`fields`] reads the rest in any order: the same
/// [`field`] code fills `m` either way, so the answer does not depend on which path read a
/// key.
#[inline(always)]
fn predicted(c: &mut Cursor<'_>, m: &mut Msg, x: &mut Ctx<'_>) -> Option<()> {
    /// `,"k":` then key `k`'s value; at any other bytes, stop predicting.
    macro_rules! next {
        ($lit:literal, $k:expr) => {
            if c.literal($lit).is_none() {
                return Some(());
            }
            field(c, m, $k, x)?;
        };
    }
    // mdload puts its send time first.
    if m.seen == K_TS {
        next!(b",\"e\":", b'e');
    }
    match m.kind {
        Kind::Trade => {
            next!(b",\"E\":", b'E');
            if c.literal(b",\"s\":").is_some() {
                field(c, m, b's', x)?;
                next!(b",\"t\":", b't');
                next!(b",\"p\":", b'p');
                next!(b",\"q\":", b'q');
                next!(b",\"T\":", b'T');
                next!(b",\"m\":", b'm');
                next!(b",\"M\":", b'M');
            } else {
                next!(b",\"T\":", b'T');
                next!(b",\"s\":", b's');
                next!(b",\"t\":", b't');
                next!(b",\"p\":", b'p');
                next!(b",\"q\":", b'q');
                next!(b",\"X\":", b'X');
                next!(b",\"m\":", b'm');
            }
        }
        Kind::AggTrade => {
            next!(b",\"E\":", b'E');
            next!(b",\"s\":", b's');
            next!(b",\"a\":", b'a');
            next!(b",\"p\":", b'p');
            next!(b",\"q\":", b'q');
            next!(b",\"f\":", b'f');
            next!(b",\"l\":", b'l');
            next!(b",\"T\":", b'T');
            next!(b",\"m\":", b'm');
            next!(b",\"M\":", b'M');
        }
        Kind::Depth => {
            next!(b",\"E\":", b'E');
            if c.literal(b",\"s\":").is_some() {
                field(c, m, b's', x)?;
            } else {
                next!(b",\"T\":", b'T');
                next!(b",\"s\":", b's');
            }
            next!(b",\"U\":", b'U');
            next!(b",\"u\":", b'u');
            if c.literal(b",\"pu\":").is_some() {
                field(c, m, PU, x)?;
            }
            next!(b",\"b\":", b'b');
            next!(b",\"a\":", b'a');
        }
        Kind::BookTicker => {
            next!(b",\"u\":", b'u');
            next!(b",\"s\":", b's');
            next!(b",\"b\":", b'b');
            next!(b",\"B\":", b'B');
            next!(b",\"a\":", b'a');
            next!(b",\"A\":", b'A');
            next!(b",\"T\":", b'T');
            next!(b",\"E\":", b'E');
        }
        // Spot's bookTicker: `u` first, no `e`.
        Kind::Untyped if m.seen == K_U => {
            next!(b",\"s\":", b's');
            next!(b",\"b\":", b'b');
            next!(b",\"B\":", b'B');
            next!(b",\"a\":", b'a');
            next!(b",\"A\":", b'A');
        }
        Kind::Untyped => {}
    }
    Some(())
}

/// A trade in Binance's own key order (spot `e,E,s,t,p,q,T,m,M`; USD-M `e,E,T,s,t,p,q,X,m`),
/// the cursor just past `"E":`, read straight into its event: the most frequent message,
/// with none of the per-key bookkeeping of [`fields`]. `None` at the first difference, with
/// nothing pushed; the caller then reads the message from its start, which answers the
/// same wherever this does (the same value readers, the same event).
#[inline(always)]
fn trade_in_order(
    c: &mut Cursor<'_>,
    enveloped: bool,
    symbols: &mut Symbols,
    unit: TimeUnit,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Option<Frame> {
    c.uint()?;
    let (usdm, early_t) = if c.literal(b",\"T\":").is_some() {
        (true, c.uint()?)
    } else {
        (false, 0)
    };
    c.literal(b",\"s\":")?;
    let (s, e) = c.string()?;
    c.literal(b",\"t\":")?;
    let id = c.uint()?;
    c.literal(b",\"p\":")?;
    let price = c.decimal()?;
    c.literal(b",\"q\":")?;
    let qty = c.decimal()?;
    let big_t = if usdm {
        c.literal(b",\"X\":")?;
        c.string()?;
        early_t
    } else {
        c.literal(b",\"T\":")?;
        c.uint()?
    };
    c.literal(b",\"m\":")?;
    let maker = c.boolean()?;
    if !usdm {
        c.literal(b",\"M\":")?;
        c.boolean()?;
    }
    c.eat(b'}')?;
    if enveloped {
        c.eat(b'}')?;
    }
    if c.i != c.b.len() {
        return None;
    }
    let instrument = symbols.get(&c.b[s as usize..e as usize])?;
    let trade = Trade {
        price,
        qty,
        // `m`: the buyer is the maker, so the aggressor sold.
        side: if maker { Side::Sell } else { Side::Buy },
        id,
    };
    let ts = big_t.checked_mul(unit.ns())?;
    out.push(Event::trade(instrument, trade, ts, recv_ts).ok()?);
    Some(Frame::Market)
}

/// Decodes `b` if it is in this path's subset (see the module docs); `None` otherwise,
/// possibly with events appended to `out` (the caller truncates).
#[inline(always)]
pub(super) fn scan(
    b: &[u8],
    symbols: &mut Symbols,
    unit: TimeUnit,
    probe: bool,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Option<Frame> {
    let start = out.len();
    let mut c = Cursor { b, i: 0 };
    let enveloped = b.starts_with(b"{\"stream\":");
    if enveloped {
        c.i = 10;
        c.string()?;
        c.literal(b",\"data\":{")?;
    } else {
        c.eat(b'{')?;
    }
    if c.b.get(c.i..c.i + 16) == Some(b"\"e\":\"trade\",\"E\":") {
        let mut t = Cursor { b, i: c.i + 16 };
        if let Some(frame) = trade_in_order(&mut t, enveloped, symbols, unit, recv_ts, out) {
            return Some(frame);
        }
    }
    let mut m = Msg {
        kind: Kind::Untyped,
        seen: 0,
        big_e: 0,
        big_t: 0,
        big_u: 0,
        u: 0,
        pu: 0,
        t: 0,
        a_id: 0,
        ts: 0,
        s: (0, 0),
        p: Decimal::ZERO,
        q: Decimal::ZERO,
        a: Decimal::ZERO,
        b: Decimal::ZERO,
        big_a: Decimal::ZERO,
        big_b: Decimal::ZERO,
        m: false,
        instrument: InstrumentId::NONE,
        depth_ts: 0,
        unresolved: false,
    };
    let mut x = Ctx {
        symbols,
        unit,
        probe,
        recv_ts,
        out,
    };
    fields(&mut c, &mut m, &mut x)?;
    let (symbols, out) = (x.symbols, x.out);
    if enveloped {
        c.eat(b'}')?;
    }
    if c.i != b.len() {
        return None;
    }
    let has = |bits: u32| m.seen & bits == bits;
    let t = has(K_BIG_T).then_some(m.big_t);
    match m.kind {
        Kind::Depth => {
            if !has(A_LEVELS | B_LEVELS | K_BIG_U) {
                return None;
            }
            if m.unresolved {
                m.instrument = symbols.get(&b[m.s.0..m.s.1])?;
                for e in &mut out[start..] {
                    e.instrument = m.instrument;
                }
            }
            if let Some(e) = out[start..].last_mut() {
                e.flags = Flags::LAST_IN_BATCH;
            }
            let prev = has(K_PU).then_some(m.pu);
            Some(Frame::BookDiff {
                instrument: m.instrument,
                ids: DiffIds {
                    first: m.big_u,
                    last: m.u,
                    prev,
                },
                checksum: None,
            })
        }
        Kind::Trade | Kind::AggTrade => {
            let agg = m.kind == Kind::AggTrade;
            let id = if agg {
                if !has(A_NUM) {
                    return None;
                }
                m.a_id
            } else {
                if !has(K_T) {
                    return None;
                }
                m.t
            };
            if !has(K_S | K_P | K_Q | K_M) {
                return None;
            }
            let instrument = symbols.get(&b[m.s.0..m.s.1])?;
            // `m`: the buyer is the maker, so the aggressor sold.
            let side = if m.m { Side::Sell } else { Side::Buy };
            let ts = exchange_ts(&m, t, unit, probe)?;
            let trade = Trade {
                price: m.p,
                qty: m.q,
                side,
                id,
            };
            let mut e = Event::trade(instrument, trade, ts, recv_ts).ok()?;
            if agg {
                e.flags = Flags::AGGREGATED;
            }
            out.push(e);
            Some(Frame::Market)
        }
        Kind::BookTicker | Kind::Untyped => {
            if m.kind == Kind::Untyped && !has(K_U | K_B | K_BIG_A) {
                return None;
            }
            if !has(K_S | K_U | B_DEC | K_BIG_B | A_DEC | K_BIG_A) {
                return None;
            }
            let instrument = symbols.get(&b[m.s.0..m.s.1])?;
            let bbo = Bbo {
                bid_price: m.b,
                bid_qty: m.big_b,
                ask_price: m.a,
                ask_qty: m.big_a,
                seq: m.u,
            };
            let e_ts = has(K_BIG_E).then_some(m.big_e);
            let ts = exchange_ts(&m, e_ts, unit, probe)?;
            out.push(Event::bbo(instrument, bbo, ts, recv_ts).ok()?);
            Some(Frame::Market)
        }
    }
}
