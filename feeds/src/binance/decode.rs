//! Binance JSON frames to events: simd-json builds a tape of the (mutable) payload in place,
//! with reused buffers, and the tape is walked once by hand.
//!
//! Accepted shapes: the combined-stream envelope `{"stream":..,"data":{..}}` and raw
//! payloads; `trade`, `aggTrade`, `bookTicker` (spot's without `e`), `depthUpdate`,
//! `serverShutdown`; request replies `{"result":..,"id":..}` and errors (`{"code":..,"msg":..}`,
//! with or without `id`, or nested under `"error"`). Anything else is an unknown message
//! (counted). Keys a known message does not use are counted as unknown fields, never an
//! error. A frame that cannot be read is an error of one category (JSON, number, schema,
//! unknown symbol) and produces no events.

use simd_json::{Buffers, Node, StaticNode, Tape};
use tickwire_engine::adapter::{DecodeError, DecodeStats, DiffIds, Frame};
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId, Reason};

use super::config::TimeUnit;
use super::number::binance_decimal;
pub use super::symbols::Symbols;

/// Indexes (into the tape) of the fields a message may carry; 0 = absent (index 0 is the
/// root, never a value).
#[derive(Default)]
struct Fields {
    e: usize,
    big_e: usize,
    big_t: usize,
    s: usize,
    big_u: usize,
    u: usize,
    pu: usize,
    t: usize,
    p: usize,
    q: usize,
    m: usize,
    a: usize,
    b: usize,
    big_a: usize,
    big_b: usize,
    ts: usize,
    result: usize,
    id: usize,
    code: usize,
    error: usize,
    data: usize,
    last_update_id: usize,
    unknown: u64,
}

/// Index just past the value at `i`.
#[inline(always)]
fn skip(nodes: &[Node<'_>], i: usize) -> usize {
    match nodes.get(i) {
        Some(Node::Object { count, .. } | Node::Array { count, .. }) => i + count + 1,
        _ => i + 1,
    }
}

#[inline(always)]
fn str_at<'t>(nodes: &[Node<'t>], i: usize) -> Option<&'t str> {
    match nodes.get(i) {
        Some(Node::String(s)) if i != 0 => Some(s),
        _ => None,
    }
}

#[inline(always)]
fn u64_at(nodes: &[Node<'_>], i: usize) -> Option<u64> {
    match nodes.get(i) {
        _ if i == 0 => None,
        Some(Node::Static(StaticNode::U64(v))) => Some(*v),
        Some(Node::Static(StaticNode::I64(v))) if *v >= 0 => Some(*v as u64),
        _ => None,
    }
}

#[inline(always)]
fn i64_at(nodes: &[Node<'_>], i: usize) -> Option<i64> {
    match nodes.get(i) {
        _ if i == 0 => None,
        Some(Node::Static(StaticNode::I64(v))) => Some(*v),
        Some(Node::Static(StaticNode::U64(v))) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[inline(always)]
fn decimal_at(nodes: &[Node<'_>], i: usize) -> Result<Decimal, Reason> {
    let s = str_at(nodes, i).ok_or(Reason::Schema)?;
    binance_decimal(s.as_bytes()).ok_or(Reason::Number)
}

/// Collects the `n` key/value pairs of the object whose first key is at `i`.
#[inline(always)]
fn collect(nodes: &[Node<'_>], mut i: usize, n: usize, f: &mut Fields) -> Result<(), Reason> {
    for _ in 0..n {
        let Some(Node::String(k)) = nodes.get(i) else {
            return Err(Reason::Json);
        };
        let v = i + 1;
        let slot = match k.as_bytes() {
            b"e" => &mut f.e,
            b"E" => &mut f.big_e,
            b"T" => &mut f.big_t,
            b"s" => &mut f.s,
            b"U" => &mut f.big_u,
            b"u" => &mut f.u,
            b"pu" => &mut f.pu,
            b"t" => &mut f.t,
            b"p" => &mut f.p,
            b"q" => &mut f.q,
            b"m" => &mut f.m,
            b"a" => &mut f.a,
            b"b" => &mut f.b,
            b"A" => &mut f.big_a,
            b"B" => &mut f.big_b,
            b"ts" => &mut f.ts,
            b"result" => &mut f.result,
            b"id" => &mut f.id,
            b"code" => &mut f.code,
            b"error" => &mut f.error,
            b"data" => &mut f.data,
            b"lastUpdateId" => &mut f.last_update_id,
            // Known and unused: aggTrade first/last trade ids, "ignore", futures trade type,
            // the envelope's stream name, error text.
            b"f" | b"l" | b"M" | b"X" | b"stream" | b"msg" => {
                i = skip(nodes, v);
                continue;
            }
            _ => {
                f.unknown += 1;
                i = skip(nodes, v);
                continue;
            }
        };
        *slot = v;
        i = skip(nodes, v);
    }
    Ok(())
}

/// Decodes Binance frames. Owns the simd-json buffers and tape, reused for every frame.
pub struct Decoder {
    buffers: Buffers,
    tape: Tape<'static>,
    symbols: Symbols,
    time_unit: TimeUnit,
    latency_probe: bool,
    fast_scan: bool,
    stats: DecodeStats,
    hot_path: u64,
}

impl Decoder {
    /// A decoder over `symbols`. Its buffers grow with the largest message seen; call
    /// [`Decoder::prewarm`] to size them up front (the adapter does, for the I/O thread).
    pub fn new(symbols: Symbols, time_unit: TimeUnit, latency_probe: bool) -> Decoder {
        Decoder {
            buffers: Buffers::new(4096),
            tape: Tape(Vec::new()),
            symbols,
            time_unit,
            latency_probe,
            fast_scan: true,
            stats: DecodeStats::default(),
            hot_path: 0,
        }
    }

    /// Message size [`super::BinanceAdapter`] prewarms its decoder for.
    pub const PREWARM_BYTES: usize = 64 * 1024;

    /// Grows every internal buffer (input copy, structural index, tape) to what the densest
    /// `len`-byte document needs, so no message up to `len` bytes allocates later.
    pub fn prewarm(&mut self, len: usize) {
        let n = len.saturating_sub(2) / 2;
        let mut doc = Vec::with_capacity(2 * n + 2);
        doc.push(b'[');
        for i in 0..n {
            doc.extend_from_slice(if i + 1 == n { b"0" } else { b"0," });
        }
        doc.push(b']');
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let _ = simd_json::fill_tape(&mut doc, &mut self.buffers, &mut tape);
        self.tape = tape.reset();
    }

    /// Whether hot messages first go through the hand scanner (module `scan`); on by
    /// default. Off, every frame goes through simd-json.
    pub fn set_fast_scan(&mut self, on: bool) {
        self.fast_scan = on;
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The symbol table, mutably (to add symbols at subscribe time).
    pub fn symbols_mut(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// Decode counters.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Frames the scanner's hot path answered (a subset of `stats().fast_path`: the rest
    /// went through its general walker).
    pub fn hot_path_frames(&self) -> u64 {
        self.hot_path
    }

    /// Decodes one frame (modified in place), appending its events to `out`. On error `out`
    /// is left as it was.
    pub fn decode(
        &mut self,
        payload: &mut [u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        if self.fast_scan {
            if let Some((frame, unknown)) = super::scan::scan(
                payload,
                &mut self.symbols,
                self.time_unit,
                self.latency_probe,
                recv_ts,
                out,
            ) {
                if unknown == super::scan::HOT {
                    self.hot_path += 1;
                } else {
                    self.stats.unknown_fields += unknown;
                }
                self.stats.fast_path += 1;
                return Ok(frame);
            }
        }
        let start = out.len();
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let result = match simd_json::fill_tape(payload, &mut self.buffers, &mut tape) {
            Ok(()) => self.walk(&tape.0, recv_ts, out),
            Err(_) => Err(DecodeError::new(Reason::Json)),
        };
        self.tape = tape.reset();
        if let Err(e) = result {
            out.truncate(start);
            self.stats.count_error(e.reason);
        }
        result
    }

    fn walk(
        &mut self,
        nodes: &[Node<'_>],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let schema = DecodeError::new(Reason::Schema);
        let Some(&Node::Object { len, .. }) = nodes.first() else {
            return Err(schema);
        };
        let mut f = Fields::default();
        collect(nodes, 1, len, &mut f).map_err(DecodeError::new)?;
        if f.data != 0 {
            let Some(&Node::Object { len, .. }) = nodes.get(f.data) else {
                return Err(schema);
            };
            let data = f.data;
            f = Fields::default();
            collect(nodes, data + 1, len, &mut f).map_err(DecodeError::new)?;
        }
        let kind = str_at(nodes, f.e);
        let frame = match kind {
            Some("depthUpdate") => self.depth(nodes, &f, recv_ts, out),
            Some("trade") => self.trade(nodes, &f, f.t, Flags::EMPTY, recv_ts, out),
            Some("aggTrade") => self.trade(nodes, &f, f.a, Flags::AGGREGATED, recv_ts, out),
            Some("bookTicker") => self.bbo(nodes, &f, recv_ts, out),
            Some("serverShutdown") => Ok(Frame::Rotate),
            Some(_) => {
                self.stats.unknown_messages += 1;
                return Ok(Frame::Unknown);
            }
            None if f.e != 0 => Err(schema),
            None if f.code != 0 || f.error != 0 => return Ok(self.error_reply(nodes, &f)),
            None if f.result != 0 || f.id != 0 => {
                return Ok(match (nodes.get(f.result), u64_at(nodes, f.id)) {
                    (Some(Node::Static(StaticNode::Null)), Some(id)) if f.result != 0 => {
                        Frame::Ack { id }
                    }
                    _ => Frame::Control,
                });
            }
            // Spot bookTicker has no event type.
            None if f.u != 0 && f.b != 0 && f.big_a != 0 => self.bbo(nodes, &f, recv_ts, out),
            None => {
                self.stats.unknown_messages += 1;
                return Ok(Frame::Unknown);
            }
        };
        if frame.is_ok() {
            self.stats.unknown_fields += f.unknown;
        }
        frame
    }

    fn error_reply(&mut self, nodes: &[Node<'_>], f: &Fields) -> Frame {
        let mut code = i64_at(nodes, f.code);
        if f.error != 0 {
            if let Some(&Node::Object { len, .. }) = nodes.get(f.error) {
                let mut inner = Fields::default();
                if collect(nodes, f.error + 1, len, &mut inner).is_ok() {
                    code = code.or(i64_at(nodes, inner.code));
                }
            }
        }
        Frame::SubscriptionError {
            id: u64_at(nodes, f.id),
            code: code.unwrap_or(0),
        }
    }

    #[inline(always)]
    fn instrument(&mut self, nodes: &[Node<'_>], f: &Fields) -> Result<InstrumentId, DecodeError> {
        let s = str_at(nodes, f.s).ok_or(DecodeError::new(Reason::Schema))?;
        self.symbols
            .get(s.as_bytes())
            .ok_or(DecodeError::new(Reason::UnknownSymbol))
    }

    /// `exchange_ts` in ns: the probe's `ts` when enabled, else `primary` (or `E`) in the
    /// venue's unit; 0 when absent.
    #[inline(always)]
    fn exchange_ts(&self, nodes: &[Node<'_>], f: &Fields, primary: usize) -> Result<u64, Reason> {
        if self.latency_probe {
            if let Some(ts) = u64_at(nodes, f.ts) {
                return Ok(ts);
            }
        }
        let field = if primary != 0 { primary } else { f.big_e };
        match u64_at(nodes, field) {
            Some(t) => t.checked_mul(self.time_unit.ns()).ok_or(Reason::Number),
            None if field == 0 => Ok(0),
            None => Err(Reason::Schema),
        }
    }

    fn trade(
        &mut self,
        nodes: &[Node<'_>],
        f: &Fields,
        id_field: usize,
        flags: Flags,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let instrument = self.instrument(nodes, f)?;
        let err = |reason| DecodeError { reason, instrument };
        let id = u64_at(nodes, id_field).ok_or(err(Reason::Schema))?;
        let price = decimal_at(nodes, f.p).map_err(err)?;
        let qty = decimal_at(nodes, f.q).map_err(err)?;
        // `m`: the buyer is the maker, so the aggressor sold.
        let side = match nodes.get(f.m) {
            Some(Node::Static(StaticNode::Bool(true))) if f.m != 0 => Side::Sell,
            Some(Node::Static(StaticNode::Bool(false))) if f.m != 0 => Side::Buy,
            _ => return Err(err(Reason::Schema)),
        };
        let ts = self.exchange_ts(nodes, f, f.big_t).map_err(err)?;
        let t = Trade {
            price,
            qty,
            side,
            id,
        };
        let mut e = Event::trade(instrument, t, ts, recv_ts).map_err(|_| err(Reason::Number))?;
        e.flags = flags;
        out.push(e);
        Ok(Frame::Market)
    }

    fn bbo(
        &mut self,
        nodes: &[Node<'_>],
        f: &Fields,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let instrument = self.instrument(nodes, f)?;
        let err = |reason| DecodeError { reason, instrument };
        let seq = u64_at(nodes, f.u).ok_or(err(Reason::Schema))?;
        let b = Bbo {
            bid_price: decimal_at(nodes, f.b).map_err(err)?,
            bid_qty: decimal_at(nodes, f.big_b).map_err(err)?,
            ask_price: decimal_at(nodes, f.a).map_err(err)?,
            ask_qty: decimal_at(nodes, f.big_a).map_err(err)?,
            seq,
        };
        let ts = self.exchange_ts(nodes, f, f.big_e).map_err(err)?;
        out.push(Event::bbo(instrument, b, ts, recv_ts).map_err(|_| err(Reason::Number))?);
        Ok(Frame::Market)
    }

    fn depth(
        &mut self,
        nodes: &[Node<'_>],
        f: &Fields,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        let instrument = self.instrument(nodes, f)?;
        let err = |reason| DecodeError { reason, instrument };
        let first = u64_at(nodes, f.big_u).ok_or(err(Reason::Schema))?;
        let last = u64_at(nodes, f.u).ok_or(err(Reason::Schema))?;
        let prev = match f.pu {
            0 => None,
            i => Some(u64_at(nodes, i).ok_or(err(Reason::Schema))?),
        };
        let ts = self.exchange_ts(nodes, f, f.big_e).map_err(err)?;
        let start = out.len();
        for (side, field) in [(Side::Buy, f.b), (Side::Sell, f.a)] {
            levels(nodes, field, instrument, side, last, ts, recv_ts, out).map_err(err)?;
        }
        if let Some(e) = out.get_mut(start..).and_then(|s| s.last_mut()) {
            e.flags = Flags::LAST_IN_BATCH;
        }
        Ok(Frame::BookDiff {
            instrument,
            ids: DiffIds { first, last, prev },
            checksum: None,
        })
    }
}

/// Appends the `[[price, qty], ...]` array at `field` as level events.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn levels(
    nodes: &[Node<'_>],
    field: usize,
    instrument: InstrumentId,
    side: Side,
    seq: u64,
    exchange_ts: u64,
    recv_ts: u64,
    out: &mut Vec<Event>,
) -> Result<(), Reason> {
    let Some(&Node::Array { len, .. }) = nodes.get(field).filter(|_| field != 0) else {
        return Err(Reason::Schema);
    };
    let mut i = field + 1;
    for _ in 0..len {
        let (Some(&Node::Array { len: 2, .. }), Some(Node::String(p)), Some(Node::String(q))) =
            (nodes.get(i), nodes.get(i + 1), nodes.get(i + 2))
        else {
            return Err(Reason::Schema);
        };
        let price = binance_decimal(p.as_bytes()).ok_or(Reason::Number)?;
        let qty = binance_decimal(q.as_bytes()).ok_or(Reason::Number)?;
        let level = Level {
            side,
            price,
            qty,
            seq,
        };
        let e = Event::level(instrument, level, Flags::EMPTY, exchange_ts, recv_ts)
            .map_err(|_| Reason::Number)?;
        out.push(e);
        i += 3;
    }
    Ok(())
}

/// Parses a REST depth snapshot (`{"lastUpdateId":..,"E":..,"T":..,"bids":[..],"asks":[..]}`;
/// spot has no `E`/`T`) for `instrument`. Off the hot path: it allocates.
pub fn parse_depth_snapshot(
    body: &mut [u8],
    instrument: InstrumentId,
    time_unit: TimeUnit,
) -> Result<tickwire_engine::adapter::BookSnapshot, Reason> {
    let tape = simd_json::to_tape(body).map_err(|_| Reason::Json)?;
    let nodes = &tape.0;
    let Some(&Node::Object { len, .. }) = nodes.first() else {
        return Err(Reason::Schema);
    };
    let mut i = 1;
    let (mut last_id, mut ts, mut bids_at, mut asks_at) = (None, 0u64, 0, 0);
    for _ in 0..len {
        let Some(Node::String(k)) = nodes.get(i) else {
            return Err(Reason::Json);
        };
        let v = i + 1;
        match *k {
            "lastUpdateId" => last_id = u64_at(nodes, v),
            "E" => {
                ts = u64_at(nodes, v)
                    .and_then(|t| t.checked_mul(time_unit.ns()))
                    .ok_or(Reason::Number)?
            }
            "bids" => bids_at = v,
            "asks" => asks_at = v,
            _ => {}
        }
        i = skip(nodes, v);
    }
    let side = |at: usize| -> Result<Vec<(Decimal, Decimal)>, Reason> {
        let Some(&Node::Array { len, .. }) = nodes.get(at).filter(|_| at != 0) else {
            return Err(Reason::Schema);
        };
        let mut v = Vec::with_capacity(len);
        let mut j = at + 1;
        for _ in 0..len {
            let (Some(&Node::Array { len: 2, .. }), Some(Node::String(p)), Some(Node::String(q))) =
                (nodes.get(j), nodes.get(j + 1), nodes.get(j + 2))
            else {
                return Err(Reason::Schema);
            };
            v.push((
                binance_decimal(p.as_bytes()).ok_or(Reason::Number)?,
                binance_decimal(q.as_bytes()).ok_or(Reason::Number)?,
            ));
            j += 3;
        }
        Ok(v)
    };
    Ok(tickwire_engine::adapter::BookSnapshot {
        instrument,
        last_id: last_id.ok_or(Reason::Schema)?,
        exchange_ts: ts,
        bids: side(bids_at)?,
        asks: side(asks_at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::Registry;

    /// Documented frames (venues.md §1, real spot capture) with one number replaced.
    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"QTY","T":1723161255342,"m":true,"M":true}}"#;
    const DEPTH: &str = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["PRICE","QTY"]]}}"#;
    const TICKER: &str = r#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"PRICE","B":"31.21000000","a":"25.36520000","A":"QTY"}}"#;

    fn decoder(fast: bool) -> Decoder {
        let mut symbols = Symbols::new("binance");
        symbols.add(&Registry::new(), "BTCUSDT");
        let mut d = Decoder::new(symbols, TimeUnit::Millisecond, false);
        d.set_fast_scan(fast);
        d
    }

    /// Decodes `frame` with the scanner on and off; both must agree.
    fn decode_both(frame: &str) -> Result<Vec<Event>, Reason> {
        let mut answers = [true, false].map(|fast| {
            let mut out = Vec::new();
            let mut buf = frame.as_bytes().to_vec();
            decoder(fast)
                .decode(&mut buf, 1, &mut out)
                .map(|_| out)
                .map_err(|e| e.reason)
        });
        assert_eq!(
            answers[0], answers[1],
            "scanner and tape disagree on {frame}"
        );
        std::mem::replace(&mut answers[0], Err(Reason::Json))
    }

    fn parts(d: Decimal) -> (i64, u8) {
        (d.mantissa(), d.scale())
    }

    /// Values Binance never sends in a price or quantity string: a sign, a leading zero
    /// before another digit, a point without digits on both sides (issue 18 item 9, issue 20
    /// item 2: `"0320996000"` came out of a corrupted journal).
    const MALFORMED: [&str; 14] = [
        "-2",
        "-0.02000000",
        "-61837.63000000",
        "+2",
        "0320996000",
        "00.5",
        "00000000.00000001",
        "01",
        "0123456.1",
        "1.",
        ".5",
        "1.e5",
        "",
        "-0",
    ];

    #[test]
    fn malformed_numbers_are_number_errors() {
        for bad in MALFORMED {
            assert_eq!(
                decode_both(&TRADE.replace("QTY", bad)),
                Err(Reason::Number),
                "trade qty {bad:?}"
            );
            let depth = DEPTH.replace("PRICE", "61862.51000000");
            assert_eq!(
                decode_both(&depth.replace("QTY", bad)),
                Err(Reason::Number),
                "depth qty {bad:?}"
            );
            let depth = DEPTH.replace("QTY", "1.00000000");
            assert_eq!(
                decode_both(&depth.replace("PRICE", bad)),
                Err(Reason::Number),
                "depth price {bad:?}"
            );
            let ticker = TICKER.replace("PRICE", "25.35190000");
            assert_eq!(
                decode_both(&ticker.replace("QTY", bad)),
                Err(Reason::Number),
                "ticker qty {bad:?}"
            );
        }
    }

    #[test]
    fn well_formed_numbers_decode_exactly() {
        // (text, mantissa, scale): the value the text writes, at its own scale (at most 15).
        let good: [(&str, i64, u8); 9] = [
            ("0.02000000", 2_000_000, 8),
            ("0", 0, 0),
            ("0.0", 0, 1),
            ("320996000", 320_996_000, 0),
            ("10.5", 105, 1),
            ("1.0000000000000000", 1_000_000_000_000_000, 15),
            ("27630E-16", 2763, 15),
            ("1.5e3", 1500, 0),
            ("12345678.123456789", 12_345_678_123_456_789, 9),
        ];
        for (text, m, s) in good {
            let ev = decode_both(&TRADE.replace("QTY", text)).unwrap();
            let t = ev[0].as_trade().unwrap();
            assert_eq!(parts(t.qty), (m, s), "trade qty {text}");
            assert_eq!(parts(t.price), (6_183_763_000_000, 8));
            let depth = DEPTH.replace("PRICE", "61862.51000000");
            let ev = decode_both(&depth.replace("QTY", text)).unwrap();
            assert_eq!(
                parts(ev[2].as_level().unwrap().qty),
                (m, s),
                "depth qty {text}"
            );
            let depth = DEPTH.replace("QTY", "1.00000000");
            let ev = decode_both(&depth.replace("PRICE", text)).unwrap();
            assert_eq!(
                parts(ev[2].as_level().unwrap().price),
                (m, s),
                "depth price {text}"
            );
        }
        // A digit that is not zero past scale 15 cannot be carried: a number error.
        assert_eq!(
            decode_both(&TRADE.replace("QTY", "0.0000000000000001")),
            Err(Reason::Number)
        );
    }

    #[test]
    fn snapshot_numbers_follow_the_same_rules() {
        let body = |q: &str| {
            format!(
                r#"{{"lastUpdateId":1027024,"bids":[["4.00000000","{q}"]],"asks":[["4.00000200","12.00000000"]]}}"#
            )
        };
        let parse = |q: &str| {
            parse_depth_snapshot(
                &mut body(q).into_bytes(),
                InstrumentId(0),
                TimeUnit::Millisecond,
            )
        };
        let s = parse("431.00000000").unwrap();
        assert_eq!(parts(s.bids[0].1), (43_100_000_000, 8));
        let s = parse("1.0000000000000000").unwrap();
        assert_eq!(parts(s.bids[0].1), (1_000_000_000_000_000, 15));
        for bad in ["-431.00000000", "0431", "1.", "0.0000000000000001"] {
            assert_eq!(parse(bad).err(), Some(Reason::Number), "{bad}");
        }
    }
}
