//! OKX v5 public frames to events: a hand scanner over the payload, one pass for the
//! envelope (recording where `arg`, `action`, `data`, `event`, `code` are, in any key order)
//! and one over each value used. No allocation after warm-up, no floating point, no
//! dependency on key order or whitespace. Level arrays go through the fast level reader of
//! `crate::scan_levels` (Binance's SSE/SWAR level scanner, on OKX's four-string levels),
//! with the general reader below as fallback for any other shape.
//!
//! Accepted (venues.md §6, §12):
//! * `{"arg":{"channel":"books","instId":..},"action":"snapshot"|"update","data":[{asks,bids,
//!   ts,checksum,prevSeqId,seqId}]}`: levels `[px, sz, liquidated, numOrders]` (strings; only
//!   `px` and `sz` are read) become book-level events in wire order, the last one flagged
//!   LAST_IN_BATCH; `seq` is `seqId`; a snapshot is [`Frame::BookSnapshot`], an update
//!   [`Frame::BookDiff`] with `prev = prevSeqId` (a snapshot's `-1` is no `prev`). An update
//!   with empty sides is a keep-alive: a diff without events. `checksum` 0 (OKX since
//!   2026-06) is no checksum. A message without `seqId` and `prevSeqId` (captures before
//!   2023) has ids 0 and no `prev`: it is chained by its checksum alone.
//! * `trades`: `data` objects `{instId, tradeId, px, sz, side (taker), ts, count}`: a trade
//!   event each, the id a number when numeric ([`TradeId::parse`] otherwise), flagged
//!   AGGREGATED when `count` > 1.
//! * `bbo-tbt`: one level a side and `seqId`: a BBO event (a missing side has zeros).
//! * text `pong`: [`Frame::Pong`]; `{"event":"subscribe"|"unsubscribe","arg":{..}}`: an ack
//!   (the adapter matches it to its request by `arg`); `{"event":"error","code":..}`: a
//!   subscription error; other events (`notice`, `channel-conn-count`): control.
//!
//! Anything else is an unknown message (counted). A frame that cannot be read is an error of
//! one category (JSON, number, schema, unknown symbol) and leaves no events.

use tickwire_engine::adapter::{DecodeError, DecodeStats, DiffIds, Frame};
use tickwire_engine::decimal::eight_digits;
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId, Reason, TradeId};

use crate::binance::Symbols;
use crate::scan_levels::{self, Shapes};

/// Nesting allowed inside skipped values.
const MAX_DEPTH: u32 = 32;

type R<T> = Result<T, Reason>;

/// A value's bytes: `[start, end)` of its text (a string's without the quotes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
    /// The value was a JSON string.
    quoted: bool,
    /// The value was present.
    present: bool,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    #[inline(always)]
    fn expect(&mut self, c: u8) -> R<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(Reason::Json)
        }
    }

    /// A string; the cursor must be at its opening quote (after whitespace).
    #[inline(always)]
    fn string(&mut self) -> R<Span> {
        self.expect(b'"')?;
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        loop {
            match b.get(i) {
                None => return Err(Reason::Json),
                Some(b'"') => break,
                Some(b'\\') => {
                    if b.get(i + 1).is_none() {
                        return Err(Reason::Json);
                    }
                    i += 2;
                }
                Some(&c) if c < 0x20 => return Err(Reason::Json),
                Some(_) => i += 1,
            }
        }
        self.i = i + 1;
        Ok(Span {
            start: start as u32,
            end: i as u32,
            quoted: true,
            present: true,
        })
    }

    /// A number, `true`, `false` or `null`: its text (checked for JSON's alphabet only;
    /// each user reads it strictly).
    #[inline(always)]
    fn scalar(&mut self) -> R<Span> {
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.') {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return Err(Reason::Json);
        }
        let text = &self.b[start..self.i];
        let c = text[0];
        let ok = c == b'-' || c.is_ascii_digit() || matches!(text, b"true" | b"false" | b"null");
        if !ok {
            return Err(Reason::Json);
        }
        Ok(Span {
            start: start as u32,
            end: self.i as u32,
            quoted: false,
            present: true,
        })
    }

    /// Any value, skipped; returns its span (strings and scalars only are of use).
    fn value(&mut self, depth: u32) -> R<Span> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(Reason::Json);
                }
                let start = self.i;
                self.i += 1;
                if !self.eat(b'}') {
                    loop {
                        self.string()?;
                        self.expect(b':')?;
                        self.value(depth + 1)?;
                        if self.eat(b',') {
                            continue;
                        }
                        self.expect(b'}')?;
                        break;
                    }
                }
                Ok(Span {
                    start: start as u32,
                    end: self.i as u32,
                    quoted: false,
                    present: true,
                })
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(Reason::Json);
                }
                let start = self.i;
                self.i += 1;
                if !self.eat(b']') {
                    loop {
                        self.value(depth + 1)?;
                        if self.eat(b',') {
                            continue;
                        }
                        self.expect(b']')?;
                        break;
                    }
                }
                Ok(Span {
                    start: start as u32,
                    end: self.i as u32,
                    quoted: false,
                    present: true,
                })
            }
            Some(_) => self.scalar(),
            None => Err(Reason::Json),
        }
    }

    #[inline(always)]
    fn text(&self, s: Span) -> &'a [u8] {
        &self.b[s.start as usize..s.end as usize]
    }

    /// Steps over `pat` (a key with its quotes and colon, as OKX writes it) when the bytes
    /// at the cursor are exactly that; else stays (the general reader then reads what is
    /// there).
    #[inline(always)]
    fn lit(&mut self, pat: &[u8]) -> bool {
        if self.b.get(self.i..self.i + pat.len()) == Some(pat) {
            self.i += pat.len();
            true
        } else {
            false
        }
    }

    /// A value read as the general reader reads it, with strings (the usual case) read
    /// without the general value walk's dispatch.
    #[inline(always)]
    fn value_or_string(&mut self, depth: u32) -> R<Span> {
        if self.b.get(self.i) == Some(&b'"') {
            self.string()
        } else {
            self.value(depth)
        }
    }

    /// An integer where it stands, in the shapes OKX sends: `-?digits` unquoted, or
    /// `"digits"` when `quoted`, 1 to 19 digits, right at the cursor; `None` (the cursor
    /// unmoved) for anything else, which the caller reads with [`Cur::value`] instead: the
    /// answer is the same (a bare number is taken only when the byte after it could not
    /// continue the scalar that `value` would read).
    #[inline(always)]
    fn fast_int(&mut self, quoted: bool) -> Option<Num> {
        let b = self.b;
        let mut i = self.i;
        if quoted {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            i += 1;
        }
        let neg = !quoted && b.get(i) == Some(&b'-');
        i += usize::from(neg);
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 19 {
            return None;
        }
        let v = uint(&b[start..i])?;
        match b.get(i) {
            Some(b'"') if quoted => i += 1,
            // A bare number ends where the general reader's scalar would.
            Some(&c)
                if !(quoted || c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')) => {}
            _ => return None,
        }
        self.i = i;
        Some(if neg { Num::Neg(v) } else { Num::Uint(v) })
    }

    /// A book field's integer: [`Cur::fast_int`], else the general value (kept as text,
    /// read when the message is complete, as before).
    #[inline(always)]
    fn num(&mut self, quoted: bool) -> R<Num> {
        match self.fast_int(quoted) {
            Some(n) => Ok(n),
            None => self.value(3).map(Num::Text),
        }
    }

    /// A decimal in a string, read in the same pass as the string (the usual case); any
    /// other shape goes through [`Cur::decimal_slow`], which classifies it as before.
    #[inline(always)]
    fn decimal_string(&mut self) -> R<Decimal> {
        let save = self.i;
        if self.peek() == Some(b'"') {
            let b = self.b;
            let start = self.i + 1;
            let mut i = start;
            let (mut m, mut digits, mut after, mut point) = (0u64, 0u32, 0u32, false);
            loop {
                match b.get(i) {
                    Some(&c @ b'0'..=b'9') => {
                        m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                        digits += 1;
                        after += u32::from(point);
                    }
                    Some(b'.') if !point => point = true,
                    Some(b'"') => break,
                    _ => {
                        self.i = save;
                        return self.decimal_slow();
                    }
                }
                i += 1;
            }
            let lead_zero = i - start > 1 && b[start] == b'0' && b[start + 1] != b'.';
            if digits == after || (point && after == 0) || digits > 18 || lead_zero {
                self.i = save;
                return self.decimal_slow();
            }
            self.i = i + 1;
            return Decimal::new(m as i64, after as u8).map_err(|_| Reason::Number);
        }
        self.decimal_slow()
    }

    /// The rest of a level after its size: `,"0","13"]` read without the general value
    /// walk when it is plain strings without escapes (OKX's shape); anything else through
    /// it.
    #[inline(always)]
    fn skip_level_rest(&mut self) -> R<()> {
        let b = self.b;
        let mut i = self.i;
        loop {
            match (b.get(i), b.get(i + 1)) {
                (Some(b']'), _) => {
                    self.i = i + 1;
                    return Ok(());
                }
                (Some(b','), Some(b'"')) => {
                    i += 2;
                    loop {
                        match b.get(i) {
                            Some(b'"') => break,
                            Some(&c) if c >= 0x20 && c != b'\\' => i += 1,
                            _ => return self.skip_level_rest_slow(),
                        }
                    }
                    i += 1;
                }
                _ => return self.skip_level_rest_slow(),
            }
        }
    }

    #[cold]
    fn skip_level_rest_slow(&mut self) -> R<()> {
        while self.eat(b',') {
            self.value(4)?;
        }
        self.expect(b']')
    }

    /// A string (else a schema error) holding an [`okx_decimal`] (else a number error).
    #[cold]
    fn decimal_slow(&mut self) -> R<Decimal> {
        let s = self.string().map_err(|_| Reason::Schema)?;
        okx_decimal(self.text(s)).ok_or(Reason::Number)
    }
}

/// A strict OKX decimal: digits, at most one `.` with digits on both sides, no sign, no
/// exponent (what OKX sends; anything else is a number error). Read in one pass; values of
/// more than 18 digits go through [`Decimal::parse`] (which drops trailing zeros past its
/// scale limit).
#[inline(always)]
pub fn okx_decimal(text: &[u8]) -> Option<Decimal> {
    let (mut m, mut digits, mut point, mut after) = (0u64, 0u32, false, 0u32);
    for &c in text {
        match c {
            b'0'..=b'9' => {
                m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                digits += 1;
                after += u32::from(point);
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if digits == after || (point && after == 0) {
        return None; // no digit before the point, or none after it
    }
    if text.len() > 1 && text[0] == b'0' && text[1] != b'.' {
        return None; // a leading zero (`01`, `00.5`)
    }
    if digits <= 18 {
        // 18 digits always fit an i64 mantissa; the scale is at most 17 here.
        return Decimal::new(m as i64, after as u8).ok();
    }
    Decimal::parse(text).ok()
}

/// An unsigned integer, from a JSON number or a string of digits (OKX sends `ts` as a string
/// and `seqId` as a number).
#[inline(always)]
fn uint(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let n = text.len();
    if (8..20).contains(&n) {
        // 8 to 19 digits (below 10^19 < 2^64: no overflow), 8 at a time (SWAR); the last
        // `n % 8` through the 8 bytes ending the text, the digits before them replaced by
        // '0's (no copy: a partial copy would stall the load that follows it).
        let load = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(text.get(at..at + 8)?.try_into().ok()?))
        };
        let mut v = eight_digits(load(0)?)?;
        if n >= 16 {
            v = v * 100_000_000 + eight_digits(load(8)?)?;
        }
        let r = n % 8;
        if r != 0 {
            let keep = u64::MAX << (8 * (8 - r));
            let x = (load(n - 8)? & keep) | (0x3030_3030_3030_3030 & !keep);
            v = v * POW10[r] + eight_digits(x)?;
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// A signed integer (`-1`, a negative checksum).
#[inline(always)]
fn int(text: &[u8]) -> Option<i64> {
    match text.split_first() {
        Some((b'-', rest)) => {
            let v = uint(rest)?;
            if v > i64::MAX as u64 + 1 {
                return None;
            }
            Some((v as i64).wrapping_neg())
        }
        _ => i64::try_from(uint(text)?).ok(),
    }
}

const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// Milliseconds text to ns.
#[inline(always)]
fn ms_to_ns(text: &[u8]) -> Option<u64> {
    uint(text)?.checked_mul(1_000_000)
}

/// A book field's integer: absent, read where it stood ([`Cur::fast_int`]), or the text of
/// any other value, read by [`uint`] / [`int`] once the message is known complete. Either
/// way the answer is what those give for the field's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Num {
    #[default]
    Absent,
    /// Digits only (at most 19).
    Uint(u64),
    /// `-` and digits (at most 19).
    Neg(u64),
    Text(Span),
}

impl Num {
    fn present(self) -> bool {
        self != Num::Absent
    }

    /// [`uint`] of the field's text.
    #[inline(always)]
    fn uint(self, b: &[u8]) -> Option<u64> {
        match self {
            Num::Uint(v) => Some(v),
            Num::Neg(_) | Num::Absent => None,
            Num::Text(s) => uint(&b[s.start as usize..s.end as usize]),
        }
    }

    /// [`int`] of the field's text.
    #[inline(always)]
    fn int(self, b: &[u8]) -> Option<i64> {
        match self {
            Num::Uint(v) => i64::try_from(v).ok(),
            Num::Neg(v) => (v <= i64::MAX as u64 + 1).then(|| (v as i64).wrapping_neg()),
            Num::Absent => None,
            Num::Text(s) => int(&b[s.start as usize..s.end as usize]),
        }
    }

    /// [`ms_to_ns`] of the field's text.
    #[inline(always)]
    fn ms_to_ns(self, b: &[u8]) -> Option<u64> {
        self.uint(b)?.checked_mul(1_000_000)
    }
}

/// The channels the decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chan {
    Books,
    Trades,
    Bbo,
    Other,
}

/// What an `event` message was, for the adapter to match against its requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// `subscribe` (true) or `unsubscribe` (false), for acks.
    pub subscribe: bool,
    /// Hash of the `arg` (channel and instId) the ack or error echoed (0: none).
    pub arg: u64,
}

/// FNV-1a of a (channel, instId) pair: how acks are matched to requests without allocating.
pub fn arg_key(channel: &[u8], inst_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in channel.iter().chain(b"\x00").chain(inst_id) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// OKX frame decoder with its counters.
pub struct Decoder {
    symbols: Symbols,
    stats: DecodeStats,
    last_reply: Reply,
    /// Where the `data` value just read ends (its handler sets it).
    data_end: usize,
}

impl Decoder {
    /// A decoder for the instruments in `symbols`.
    pub fn new(symbols: Symbols) -> Decoder {
        Decoder {
            symbols,
            stats: DecodeStats::default(),
            last_reply: Reply::default(),
            data_end: 0,
        }
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The symbol table, to add symbols.
    pub fn symbols_mut(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// Decode counters.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// The `arg` of the last ack or error decoded ([`Frame::Ack`] ids are the adapter's).
    pub fn last_reply(&self) -> Reply {
        self.last_reply
    }

    /// Decodes one frame (see the module docs). On error `out` is as it was.
    pub fn decode(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        let start = out.len();
        let mut instrument = InstrumentId::NONE;
        match self.decode_inner(payload, recv_ts, out, &mut instrument) {
            Ok(f) => {
                self.stats.fast_path += 1;
                Ok(f)
            }
            Err(reason) => {
                out.truncate(start);
                self.stats.count_error(reason);
                Err(DecodeError { reason, instrument })
            }
        }
    }

    fn decode_inner(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let mut c = Cur { b: payload, i: 0 };
        if c.peek() != Some(b'{') {
            let t = payload.trim_ascii();
            if t == b"pong" {
                return Ok(Frame::Pong);
            }
            return Err(Reason::Json);
        }
        // Envelope: where the fields are. `data` is read where it stands when `arg` (and for
        // books `action`) came before it, as OKX sends them; else it is skipped and read
        // after the envelope.
        let start = out.len();
        let (mut arg, mut action, mut data, mut event, mut code) = (
            Span::default(),
            Span::default(),
            Span::default(),
            Span::default(),
            Span::default(),
        );
        let mut arg_read: Option<(Chan, Span)> = None;
        let mut early: Option<R<Frame>> = None;
        c.i += 1;
        if !c.eat(b'}') {
            loop {
                // OKX's keys by one compare each (any order); any other spelling through
                // the general reader.
                let key: &[u8] = if c.lit(b"\"arg\":") {
                    b"arg"
                } else if c.lit(b"\"action\":") {
                    b"action"
                } else if c.lit(b"\"data\":") {
                    b"data"
                } else {
                    let k = c.string()?;
                    c.expect(b':')?;
                    c.text(k)
                };
                // Objects and arrays are read again from here (after their key is known).
                let at = c.i;
                let ready = match arg_read {
                    Some((Chan::Other, _)) | None => false,
                    Some((Chan::Books, _)) => action.present,
                    Some(_) => true,
                };
                if key == b"data" && ready && early.is_none() && !event.present {
                    let (chan, inst) = arg_read.unwrap_or((Chan::Other, Span::default()));
                    data = Span {
                        start: at as u32,
                        end: at as u32,
                        quoted: false,
                        present: true,
                    };
                    match self.dispatch(&c, chan, inst, action, data, recv_ts, out, instrument) {
                        Ok(f) => {
                            c.i = self.data_end;
                            early = Some(Ok(f));
                        }
                        Err(e) => {
                            // Reported once the whole message is known to be JSON.
                            out.truncate(start);
                            c.i = at;
                            c.value(1)?;
                            early = Some(Err(e));
                        }
                    }
                } else if key == b"arg" && arg_read.is_none() && !arg.present {
                    // Read once: where it is a usable `arg`, its reader has walked the whole
                    // object (the same grammar as `value`); else `value` reads it as before.
                    match self.arg_at(payload, at) {
                        Ok((chan, inst, end)) => {
                            c.i = end;
                            arg = Span {
                                start: at as u32,
                                end: end as u32,
                                quoted: false,
                                present: true,
                            };
                            arg_read = Some((chan, inst));
                        }
                        Err(_) => {
                            let v = c.value(1)?;
                            arg = Span {
                                start: at as u32,
                                ..v
                            };
                        }
                    }
                } else {
                    let v = c.value_or_string(1)?;
                    let v_from = Span {
                        start: at as u32,
                        ..v
                    };
                    match key {
                        b"arg" => {
                            arg = v_from;
                            arg_read = self.arg(payload, v_from).ok();
                        }
                        b"action" => action = v,
                        b"data" => data = v_from,
                        b"event" => event = v,
                        b"code" => code = v,
                        b"msg" | b"connId" | b"op" | b"id" => {}
                        _ => self.stats.unknown_fields += 1,
                    }
                }
                if c.eat(b',') {
                    continue;
                }
                c.expect(b'}')?;
                break;
            }
        }
        if c.peek().is_some() {
            return Err(Reason::Json);
        }
        if event.present {
            out.truncate(start);
            return self.event(&c, event, arg, code);
        }
        if let Some(r) = early {
            return r;
        }
        if !arg.present {
            self.stats.unknown_messages += 1;
            return Ok(Frame::Unknown);
        }
        let (chan, inst) = self.arg(payload, arg)?;
        if chan == Chan::Other {
            self.stats.unknown_messages += 1;
            return Ok(Frame::Unknown);
        }
        if !data.present {
            return Err(Reason::Schema);
        }
        self.dispatch(&c, chan, inst, action, data, recv_ts, out, instrument)
    }

    /// Reads `data` (at `data.start`) for a known channel.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        c: &Cur<'_>,
        chan: Chan,
        inst: Span,
        action: Span,
        data: Span,
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let payload = c.b;
        let inst_text = &payload[inst.start as usize..inst.end as usize];
        match chan {
            Chan::Trades => self.trades(payload, data, inst_text, recv_ts, out, instrument),
            Chan::Books => {
                let id = self.instrument(inst_text, instrument)?;
                let snapshot = match (action.present, c.text(action)) {
                    (true, b"snapshot") => true,
                    (true, b"update") => false,
                    _ => return Err(Reason::Schema),
                };
                self.book(payload, data, id, snapshot, recv_ts, out)
            }
            Chan::Bbo => {
                let id = self.instrument(inst_text, instrument)?;
                self.bbo(payload, data, id, recv_ts, out)
            }
            Chan::Other => Ok(Frame::Unknown),
        }
    }

    #[inline(always)]
    fn instrument(&mut self, text: &[u8], found: &mut InstrumentId) -> R<InstrumentId> {
        let id = self.symbols.get(text).ok_or(Reason::UnknownSymbol)?;
        *found = id;
        Ok(id)
    }

    /// Reads `{"channel":..,"instId":..}`: the channel and the instId's span.
    fn arg(&mut self, b: &[u8], at: Span) -> R<(Chan, Span)> {
        self.arg_at(b, at.start as usize)
            .map(|(chan, inst, _)| (chan, inst))
    }

    /// [`Decoder::arg`] of the value at `b[at..]`, and the index just past it.
    #[inline(always)]
    fn arg_at(&mut self, b: &[u8], at: usize) -> R<(Chan, Span, usize)> {
        let mut c = Cur { b, i: at };
        c.expect(b'{').map_err(|_| Reason::Schema)?;
        let (mut chan, mut inst) = (Span::default(), Span::default());
        if !c.eat(b'}') {
            loop {
                // 1: channel, 2: instId, 0: another key.
                let key = if c.lit(b"\"channel\":") {
                    1
                } else if c.lit(b"\"instId\":") {
                    2
                } else {
                    let k = c.string()?;
                    c.expect(b':')?;
                    match c.text(k) {
                        b"channel" => 1,
                        b"instId" => 2,
                        _ => 0,
                    }
                };
                let v = c.value_or_string(2)?;
                match key {
                    1 => chan = v,
                    2 => inst = v,
                    _ => {}
                }
                if c.eat(b',') {
                    continue;
                }
                c.expect(b'}')?;
                break;
            }
        }
        if !chan.present || !chan.quoted {
            return Err(Reason::Schema);
        }
        let ch = match c.text(chan) {
            b"books" => Chan::Books,
            b"trades" => Chan::Trades,
            b"bbo-tbt" => Chan::Bbo,
            _ => Chan::Other,
        };
        if ch != Chan::Other && ch != Chan::Trades && !(inst.present && inst.quoted) {
            return Err(Reason::Schema);
        }
        Ok((ch, inst, c.i))
    }

    /// `{"event":..}` messages.
    fn event(&mut self, c: &Cur<'_>, event: Span, arg: Span, code: Span) -> R<Frame> {
        let key = if arg.present {
            let mut a = Cur {
                b: c.b,
                i: arg.start as usize,
            };
            let (mut chan, mut inst) = (Span::default(), Span::default());
            if a.eat(b'{') && !a.eat(b'}') {
                loop {
                    let k = a.string()?;
                    a.expect(b':')?;
                    let v = a.value(2)?;
                    match a.text(k) {
                        b"channel" => chan = v,
                        b"instId" => inst = v,
                        _ => {}
                    }
                    if a.eat(b',') {
                        continue;
                    }
                    a.expect(b'}')?;
                    break;
                }
            }
            arg_key(a.text(chan), a.text(inst))
        } else {
            0
        };
        match c.text(event) {
            b"subscribe" | b"unsubscribe" => {
                self.last_reply = Reply {
                    subscribe: c.text(event) == b"subscribe",
                    arg: key,
                };
                Ok(Frame::Ack { id: 0 })
            }
            b"error" => {
                let code = if code.present {
                    int(c.text(code)).ok_or(Reason::Number)?
                } else {
                    0
                };
                self.last_reply = Reply {
                    subscribe: true,
                    arg: key,
                };
                Ok(Frame::SubscriptionError { id: None, code })
            }
            _ => Ok(Frame::Control),
        }
    }

    /// Levels `[[px, sz, ..], ..]` at `c` as events of `side` (seq and times set later).
    /// Not inlined, on a cursor of its own (as Binance's level loop): inlined into the book
    /// reader, the event builder was called out of line, its 64-byte event through the
    /// stack (15 % of a `books` decode).
    #[inline(never)]
    fn levels(
        outer: &mut Cur<'_>,
        instrument: InstrumentId,
        side: Side,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<()> {
        let mut c = Cur {
            b: outer.b,
            i: outer.i,
        };
        let r = Self::levels_at(&mut c, instrument, side, recv_ts, out);
        outer.i = c.i;
        r
    }

    #[inline(always)]
    fn levels_at(
        c: &mut Cur<'_>,
        instrument: InstrumentId,
        side: Side,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<()> {
        c.expect(b'[').map_err(|_| Reason::Schema)?;
        if c.eat(b']') {
            return Ok(());
        }
        let template = Level {
            side,
            price: Decimal::ZERO,
            qty: Decimal::ZERO,
            seq: 0,
        };
        let blank = Event::level(instrument, template, Flags::EMPTY, 0, recv_ts)
            .map_err(|_| Reason::Number)?;
        let mut shapes = Shapes::new();
        loop {
            // OKX's shape `["p","q","0","n"]` in one read (`scan_levels`); anything else
            // (whitespace, escapes, long numbers, other arities, errors) through the general
            // reader, which answers alike wherever the fast one does (tested).
            let (price, qty, sep) = match scan_levels::quad(c.b, c.i, &mut shapes) {
                Some((price, qty, end, sep)) => {
                    c.i = end;
                    (price, qty, sep)
                }
                None => {
                    let (price, qty) = Self::level_general(c)?;
                    (price, qty, c.b.get(c.i).copied().unwrap_or(0))
                }
            };
            out.push(blank.with_level(price, qty).map_err(|_| Reason::Number)?);
            match sep {
                b',' => c.i += 1,
                b']' => {
                    c.i += 1;
                    return Ok(());
                }
                _ => {
                    if c.eat(b',') {
                        continue;
                    }
                    c.expect(b']')?;
                    return Ok(());
                }
            }
        }
    }

    /// One level `[px, sz, ..]` at the cursor by the general reader.
    #[cold]
    #[inline(never)]
    fn level_general(c: &mut Cur<'_>) -> R<(Decimal, Decimal)> {
        c.expect(b'[').map_err(|_| Reason::Schema)?;
        let price = c.decimal_string()?;
        c.expect(b',').map_err(|_| Reason::Schema)?;
        let qty = c.decimal_string()?;
        c.skip_level_rest()?;
        Ok((price, qty))
    }

    /// The one object of `data` for `books` and `bbo-tbt`: levels appended (asks and bids in
    /// wire order), the scalars returned.
    fn book_object(
        &mut self,
        b: &[u8],
        data: Span,
        instrument: InstrumentId,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<BookFields> {
        let mut c = Cur {
            b,
            i: data.start as usize,
        };
        c.expect(b'[').map_err(|_| Reason::Schema)?;
        let mut f = BookFields::default();
        c.expect(b'{').map_err(|_| Reason::Schema)?;
        if !c.eat(b'}') {
            loop {
                // OKX's keys (in any order) are recognised by one compare each, their
                // integers read where they stand; any other spelling (whitespace, escapes)
                // or value goes through the general reader, which answers alike.
                let key = match c.b.get(c.i + 1) {
                    Some(b'a') if c.lit(b"\"asks\":") => BookKey::Asks,
                    Some(b'b') if c.lit(b"\"bids\":") => BookKey::Bids,
                    Some(b't') if c.lit(b"\"ts\":") => BookKey::Ts,
                    Some(b'c') if c.lit(b"\"checksum\":") => BookKey::Checksum,
                    Some(b'p') if c.lit(b"\"prevSeqId\":") => BookKey::Prev,
                    Some(b's') if c.lit(b"\"seqId\":") => BookKey::Seq,
                    _ => {
                        let k = c.string()?;
                        c.expect(b':')?;
                        match c.text(k) {
                            b"asks" => BookKey::Asks,
                            b"bids" => BookKey::Bids,
                            b"ts" => BookKey::Ts,
                            b"checksum" => BookKey::Checksum,
                            b"prevSeqId" => BookKey::Prev,
                            b"seqId" => BookKey::Seq,
                            b"instId" => BookKey::Skip,
                            _ => BookKey::Unknown,
                        }
                    }
                };
                match key {
                    BookKey::Asks => {
                        Self::levels(&mut c, instrument, Side::Sell, recv_ts, out)?;
                        f.asks = true;
                    }
                    BookKey::Bids => {
                        Self::levels(&mut c, instrument, Side::Buy, recv_ts, out)?;
                        f.bids = true;
                    }
                    BookKey::Ts => f.ts = c.num(true)?,
                    BookKey::Checksum => f.checksum = c.num(false)?,
                    BookKey::Prev => f.prev = c.num(false)?,
                    BookKey::Seq => f.seq = c.num(false)?,
                    BookKey::Skip => {
                        c.value(3)?;
                    }
                    BookKey::Unknown => {
                        c.value(3)?;
                        self.stats.unknown_fields += 1;
                    }
                }
                if c.eat(b',') {
                    continue;
                }
                c.expect(b'}')?;
                break;
            }
        }
        // Books carry one object in `data`.
        if !c.eat(b']') {
            return Err(Reason::Schema);
        }
        self.data_end = c.i;
        Ok(f)
    }

    fn book(
        &mut self,
        b: &[u8],
        data: Span,
        instrument: InstrumentId,
        snapshot: bool,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<Frame> {
        let start = out.len();
        let f = self.book_object(b, data, instrument, recv_ts, out)?;
        if !f.asks || !f.bids {
            return Err(Reason::Schema);
        }
        let ts = if f.ts.present() {
            f.ts.ms_to_ns(b).ok_or(Reason::Number)?
        } else {
            0
        };
        let checksum = if f.checksum.present() {
            let v = f.checksum.int(b).ok_or(Reason::Number)?;
            let v = i32::try_from(v).map_err(|_| Reason::Number)?;
            (v != 0).then_some(v as u32)
        } else {
            None
        };
        let ids = match (f.seq.present(), f.prev.present()) {
            (false, false) => DiffIds::default(),
            (true, true) => {
                let seq = f.seq.uint(b).ok_or(Reason::Number)?;
                let prev = match f.prev.int(b).ok_or(Reason::Number)? {
                    -1 => None,
                    p if p < 0 => return Err(Reason::Number),
                    p => Some(p as u64),
                };
                DiffIds {
                    first: seq,
                    last: seq,
                    prev,
                }
            }
            _ => return Err(Reason::Schema),
        };
        let events = &mut out[start..];
        for e in events.iter_mut() {
            e.seq = ids.last;
            e.exchange_ts = ts;
        }
        if let Some(last) = events.last_mut() {
            last.flags = last.flags.with(Flags::LAST_IN_BATCH);
        }
        if snapshot {
            Ok(Frame::BookSnapshot {
                instrument,
                ids: DiffIds { prev: None, ..ids },
                checksum,
            })
        } else {
            if ids.prev.is_none() && f.seq.present() {
                // prevSeqId -1 belongs to snapshots only.
                return Err(Reason::Schema);
            }
            Ok(Frame::BookDiff {
                instrument,
                ids,
                checksum,
            })
        }
    }

    fn bbo(
        &mut self,
        b: &[u8],
        data: Span,
        instrument: InstrumentId,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<Frame> {
        let start = out.len();
        let f = self.book_object(b, data, instrument, recv_ts, out)?;
        let mut best = [(Decimal::ZERO, Decimal::ZERO); 2];
        let (mut n_bid, mut n_ask) = (0, 0);
        for e in &out[start..] {
            if let Some(l) = e.as_level() {
                let (i, n) = match l.side {
                    Side::Buy => (0, &mut n_bid),
                    _ => (1, &mut n_ask),
                };
                if *n == 0 {
                    best[i] = (l.price, l.qty);
                }
                *n += 1;
            }
        }
        out.truncate(start);
        if !f.asks || !f.bids || n_bid > 1 || n_ask > 1 {
            return Err(Reason::Schema);
        }
        let ts = if f.ts.present() {
            f.ts.ms_to_ns(b).ok_or(Reason::Number)?
        } else {
            0
        };
        let seq = if f.seq.present() {
            f.seq.uint(b).ok_or(Reason::Number)?
        } else {
            0
        };
        let bbo = Bbo {
            bid_price: best[0].0,
            bid_qty: best[0].1,
            ask_price: best[1].0,
            ask_qty: best[1].1,
            seq,
        };
        let e = Event::bbo(instrument, bbo, ts, recv_ts).map_err(|_| Reason::Number)?;
        out.push(e);
        Ok(Frame::Market)
    }

    fn trades(
        &mut self,
        b: &[u8],
        data: Span,
        arg_inst: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let mut c = Cur {
            b,
            i: data.start as usize,
        };
        c.expect(b'[').map_err(|_| Reason::Schema)?;
        if c.eat(b']') {
            self.data_end = c.i;
            return Ok(Frame::Market);
        }
        loop {
            let mut t = TradeFields::default();
            c.expect(b'{').map_err(|_| Reason::Schema)?;
            if !c.eat(b'}') {
                loop {
                    let k = c.string()?;
                    c.expect(b':')?;
                    let v = c.value(3)?;
                    match c.text(k) {
                        b"instId" => t.inst = v,
                        b"tradeId" => t.id = v,
                        b"px" => t.px = v,
                        b"sz" => t.sz = v,
                        b"side" => t.side = v,
                        b"ts" => t.ts = v,
                        b"count" => t.count = v,
                        b"source" | b"seqId" => {}
                        _ => self.stats.unknown_fields += 1,
                    }
                    if c.eat(b',') {
                        continue;
                    }
                    c.expect(b'}')?;
                    break;
                }
            }
            let inst = if t.inst.present {
                c.text(t.inst)
            } else {
                arg_inst
            };
            let id = self.instrument(inst, instrument)?;
            for s in [t.id, t.px, t.sz, t.side] {
                if !s.present || !s.quoted {
                    return Err(Reason::Schema);
                }
            }
            let side = match c.text(t.side) {
                b"buy" => Side::Buy,
                b"sell" => Side::Sell,
                _ => return Err(Reason::Schema),
            };
            let price = okx_decimal(c.text(t.px)).ok_or(Reason::Number)?;
            let qty = okx_decimal(c.text(t.sz)).ok_or(Reason::Number)?;
            let ts = if t.ts.present {
                ms_to_ns(c.text(t.ts)).ok_or(Reason::Number)?
            } else {
                0
            };
            let aggregated = if t.count.present {
                uint(c.text(t.count)).ok_or(Reason::Number)? > 1
            } else {
                false
            };
            let trade_id = TradeId::parse(c.text(t.id)).ok_or(Reason::Schema)?;
            let trade = Trade {
                price,
                qty,
                side,
                id: 0,
            };
            let mut e = Event::trade(id, trade, ts, recv_ts)
                .map_err(|_| Reason::Number)?
                .with_trade_id(trade_id);
            if aggregated {
                e.flags = e.flags.with(Flags::AGGREGATED);
            }
            out.push(e);
            if c.eat(b',') {
                continue;
            }
            c.expect(b']')?;
            self.data_end = c.i;
            return Ok(Frame::Market);
        }
    }
}

#[derive(Default)]
struct BookFields {
    asks: bool,
    bids: bool,
    ts: Num,
    checksum: Num,
    prev: Num,
    seq: Num,
}

/// The keys of a book object.
#[derive(Clone, Copy)]
enum BookKey {
    Asks,
    Bids,
    Ts,
    Checksum,
    Prev,
    Seq,
    /// Known, not used (`instId`).
    Skip,
    Unknown,
}

#[derive(Default)]
struct TradeFields {
    inst: Span,
    id: Span,
    px: Span,
    sz: Span,
    side: Span,
    ts: Span,
    count: Span,
}

/// Parses a REST `GET /api/v5/market/books` answer
/// (`{"code":"0","msg":"","data":[{"asks":[..],"bids":[..],"ts":..,"seqId":..}]}`) for
/// `instrument`. A `code` other than `"0"` is [`Reason::Schema`]. Off the hot path: it
/// allocates.
pub fn parse_books_snapshot(
    body: &[u8],
    instrument: InstrumentId,
) -> Result<tickwire_engine::adapter::BookSnapshot, Reason> {
    let mut c = Cur { b: body, i: 0 };
    c.expect(b'{')?;
    let (mut data, mut code) = (Span::default(), Span::default());
    if !c.eat(b'}') {
        loop {
            let k = c.string()?;
            c.expect(b':')?;
            let at = c.i;
            let v = c.value(1)?;
            match c.text(k) {
                b"data" => {
                    data = Span {
                        start: at as u32,
                        ..v
                    }
                }
                b"code" => code = v,
                _ => {}
            }
            if c.eat(b',') {
                continue;
            }
            c.expect(b'}')?;
            break;
        }
    }
    if c.peek().is_some() {
        return Err(Reason::Json);
    }
    if code.present && c.text(code) != b"0" {
        return Err(Reason::Schema);
    }
    if !data.present {
        return Err(Reason::Schema);
    }
    // `data` holds one object (its leading whitespace skipped by the reader).
    let mut d = Decoder::new(Symbols::new("okx"));
    let mut events = Vec::new();
    let f = d.book_object(body, data, instrument, 0, &mut events)?;
    if !f.asks || !f.bids || !f.seq.present() {
        return Err(Reason::Schema);
    }
    let seq = f.seq.uint(body).ok_or(Reason::Number)?;
    let ts = if f.ts.present() {
        f.ts.ms_to_ns(body).ok_or(Reason::Number)?
    } else {
        0
    };
    let mut snap = tickwire_engine::adapter::BookSnapshot {
        instrument,
        last_id: seq,
        exchange_ts: ts,
        bids: Vec::new(),
        asks: Vec::new(),
    };
    for e in &events {
        if let Some(l) = e.as_level() {
            match l.side {
                Side::Buy => snap.bids.push((l.price, l.qty)),
                _ => snap.asks.push((l.price, l.qty)),
            }
        }
    }
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan_levels::generate::{self, Rng};

    /// The level-array reader as it was before the fast path (the general reader alone):
    /// the model the fast path is checked against.
    fn levels_general(
        c: &mut Cur<'_>,
        instrument: InstrumentId,
        side: Side,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<()> {
        c.expect(b'[').map_err(|_| Reason::Schema)?;
        if c.eat(b']') {
            return Ok(());
        }
        let template = Level {
            side,
            price: Decimal::ZERO,
            qty: Decimal::ZERO,
            seq: 0,
        };
        let blank = Event::level(instrument, template, Flags::EMPTY, 0, recv_ts)
            .map_err(|_| Reason::Number)?;
        loop {
            c.expect(b'[').map_err(|_| Reason::Schema)?;
            let price = c.decimal_string()?;
            c.expect(b',').map_err(|_| Reason::Schema)?;
            let qty = c.decimal_string()?;
            c.skip_level_rest()?;
            out.push(blank.with_level(price, qty).map_err(|_| Reason::Number)?);
            if c.eat(b',') {
                continue;
            }
            c.expect(b']')?;
            return Ok(());
        }
    }

    /// The level reader with its fast path answers exactly as the general reader alone on
    /// generated level arrays: the same levels and end on success, the same error
    /// otherwise (plain arrays, and arrays with whitespace, escapes, other number shapes,
    /// other arities and damaged bytes, which must fall back).
    #[test]
    fn fast_levels_agree_with_the_general_reader() {
        let mut r = Rng(0xBB67_AE85_84CA_A73B);
        let id = InstrumentId::NONE;
        let (mut ok, mut levels_read, mut errors) = (0u32, 0usize, 0u32);
        let (mut fast_out, mut general_out) = (Vec::new(), Vec::new());
        for n in 0..200_000 {
            let b = generate::levels(&mut r, 4, n % 2 == 0);
            fast_out.clear();
            general_out.clear();
            let (mut f, mut g) = (Cur { b: &b, i: 0 }, Cur { b: &b, i: 0 });
            let fast = Decoder::levels(&mut f, id, Side::Buy, 7, &mut fast_out);
            let general = levels_general(&mut g, id, Side::Buy, 7, &mut general_out);
            let text = String::from_utf8_lossy(&b);
            assert_eq!(fast, general, "{text}");
            if fast.is_ok() {
                assert_eq!(f.i, g.i, "{text}");
                assert_eq!(fast_out, general_out, "{text}");
                ok += 1;
                levels_read += fast_out.len();
            } else {
                errors += 1;
            }
        }
        // Both outcomes were exercised, and many levels read.
        assert!(
            ok > 100_000 && errors > 10_000 && levels_read > 300_000,
            "{ok} {errors} {levels_read}"
        );
    }

    /// `uint` (SWAR for 8 to 19 digits) agrees with a digit-by-digit model with overflow
    /// checks on generated texts: every length to 22, digits with a stray non-digit
    /// sometimes, and the limits around `u64::MAX`.
    #[test]
    fn uint_agrees_with_a_checked_model() {
        // More than 20 characters is never a u64 (not even with leading zeros).
        fn model(t: &[u8]) -> Option<u64> {
            if t.is_empty() || t.len() > 20 {
                return None;
            }
            t.iter().try_fold(0u64, |v, &c| {
                if c.is_ascii_digit() {
                    v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
                } else {
                    None
                }
            })
        }
        let mut r = Rng(0x510E_527F_ADE6_82D1);
        let mut texts: Vec<Vec<u8>> = [
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "9999999999999999999",
            "00000000000000000000",
            "1723161255308",
            "50093239207",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        for _ in 0..200_000 {
            let len = (r.next() % 23) as usize;
            let mut t: Vec<u8> = (0..len).map(|_| b'0' + (r.next() % 10) as u8).collect();
            if len > 0 && r.next() % 4 == 0 {
                let p = (r.next() % len as u64) as usize;
                t[p] = b"/:a.-+ \x00\xff"[(r.next() % 9) as usize];
            }
            texts.push(t);
        }
        for t in &texts {
            assert_eq!(uint(t), model(t), "{:?}", String::from_utf8_lossy(t));
        }
    }
}
