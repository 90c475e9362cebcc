//! Bybit v5 public JSON frames to events: a hand scanner that reads the message where it
//! lies (no tape, no copy, no allocation after warm-up), in any key order.
//!
//! Why a scanner and not simd-json's tape: in `benches/benches/decode_bybit.rs` Binance's
//! simd-json tape path costs ~53 ns a level; this scanner, whose level arrays go through
//! the fast level reader of `crate::scan_levels` (Binance's SSE/SWAR level scanner, the
//! general reader below as fallback), is within 1.5x of Binance's own scanner per level
//! (README numbers).
//!
//! Accepted shapes (venues.md §5, §12):
//! * `{"topic":"orderbook.{N}.{S}","type":"snapshot"|"delta","ts":..,"data":{"s","b","a","u","seq"},"cts":..}`
//!   → [`Frame::BookSnapshot`] / [`Frame::BookDiff`] with `u` as the update id (a spot
//!   `orderbook.1` of a symbol subscribed as a BBO → one BBO event instead);
//! * `{"topic":"publicTrade.{S}","type":"snapshot","ts":..,"data":[{"T","s","S","v","p","i",..}]}`
//!   → one trade event each (`S` = taker side; `i` numeric or a UUID, [`TradeId`]);
//! * `{"topic":"tickers.{S}","type":"snapshot"|"delta","data":{"symbol",.."bid1Price",..},"cs":..,"ts":..}`
//!   → a BBO event once all four fields are known (a delta carries only the changed ones;
//!   the last full BBO per symbol is kept here);
//! * replies `{"success":..,"ret_msg":..,"conn_id":..,"req_id":..,"op":..}`: `op` `ping` (or
//!   the option style `{"op":"pong"}`) → [`Frame::Pong`]; `subscribe`/`unsubscribe` →
//!   [`Frame::Ack`] (numeric `req_id`) or, with `success:false`, [`Frame::SubscriptionError`].
//!
//! A frame that cannot be read is one error (JSON, number, schema, unknown symbol) and
//! produces no events; keys a known message does not use are counted, never an error.

use tickwire_engine::adapter::{DecodeError, DecodeStats, DiffIds, Frame};
use tickwire_engine::event::{Bbo, Event, Flags, Level, Side, Trade};
use tickwire_engine::{Decimal, InstrumentId, Reason, TradeId};

use super::subscription::Market;
use crate::binance::Symbols;
use crate::scan_levels::{self, Shapes};

use crate::json_scan::{Cur, R, plain_decimal, valid_json};

/// The last full BBO of a linear ticker (deltas carry only the changed fields).
#[derive(Clone, Copy, Debug, Default)]
struct TickerBbo {
    /// bid price, bid size, ask price, ask size.
    values: [Decimal; 4],
    /// Which of `values` are known (bit i).
    known: u8,
}

/// What a topic names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topic {
    Book { depth1: bool },
    Trade,
    Ticker,
    Other,
}

fn topic_kind(t: &[u8]) -> Topic {
    if let Some(rest) = t.strip_prefix(b"orderbook.") {
        return Topic::Book {
            depth1: rest.starts_with(b"1."),
        };
    }
    if t.starts_with(b"publicTrade.") {
        return Topic::Trade;
    }
    if t.starts_with(b"tickers.") {
        return Topic::Ticker;
    }
    Topic::Other
}

/// Fields of a book `data` object.
#[derive(Default)]
struct BookData<'a> {
    symbol: Option<&'a [u8]>,
    u: Option<u64>,
    bids: bool,
    asks: bool,
}

/// Fields of a ticker `data` object.
#[derive(Default)]
struct TickerData<'a> {
    symbol: Option<&'a [u8]>,
    values: [Decimal; 4],
    present: u8,
}

/// Decodes Bybit frames. Keeps the symbol table, per-symbol ticker state and counters.
pub struct Decoder {
    symbols: Symbols,
    market: Market,
    stats: DecodeStats,
    /// Per instrument index: this symbol's `orderbook.1` is its BBO channel (spot).
    book1_bbo: Vec<bool>,
    /// Per instrument index: the last full ticker BBO.
    tickers: Vec<TickerBbo>,
}

impl Decoder {
    /// A decoder over `symbols` for `market`.
    pub fn new(symbols: Symbols, market: Market) -> Decoder {
        Decoder {
            symbols,
            market,
            stats: DecodeStats::default(),
            book1_bbo: Vec::new(),
            tickers: Vec::new(),
        }
    }

    /// The market.
    pub fn market(&self) -> Market {
        self.market
    }

    /// The symbol table.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// The symbol table, mutably (to add symbols at subscribe time; call
    /// [`Decoder::prepare`] for each).
    pub fn symbols_mut(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// Sizes the per-symbol state for `instrument` (off the hot path), and says whether its
    /// `orderbook.1` messages are its BBO (spot [`super::Channel::Bbo`] without a level-1
    /// book) rather than a book.
    pub fn prepare(&mut self, instrument: InstrumentId, book1_is_bbo: bool) {
        let i = instrument.index();
        if self.book1_bbo.len() <= i {
            self.book1_bbo.resize(i + 1, false);
            self.tickers.resize(i + 1, TickerBbo::default());
        }
        self.book1_bbo[i] = book1_is_bbo;
    }

    /// Forgets every ticker's last BBO (a new session sends snapshots again).
    pub fn reset_tickers(&mut self) {
        for t in &mut self.tickers {
            *t = TickerBbo::default();
        }
    }

    /// Decode counters.
    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Decodes one frame (not modified), appending its events to `out`. On error `out` is
    /// left as it was.
    pub fn decode(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        self.stats.fast_path += 1;
        let start = out.len();
        let mut instrument = InstrumentId::NONE;
        let result = self.message(payload, recv_ts, out, &mut instrument);
        match result {
            Ok(f) => Ok(f),
            Err(reason) => {
                out.truncate(start);
                // A value of the wrong shape inside a document that is not JSON at all is a
                // JSON error; a structural surprise inside valid JSON is a schema error.
                let reason = if !valid_json(payload) {
                    Reason::Json
                } else if reason == Reason::Json {
                    Reason::Schema
                } else {
                    reason
                };
                self.stats.count_error(reason);
                Err(DecodeError { reason, instrument })
            }
        }
    }

    #[inline(always)]
    fn instrument(&mut self, symbol: Option<&[u8]>) -> R<InstrumentId> {
        let s = symbol.ok_or(Reason::Schema)?;
        self.symbols.get(s).ok_or(Reason::UnknownSymbol)
    }

    fn message(
        &mut self,
        payload: &[u8],
        recv_ts: u64,
        out: &mut Vec<Event>,
        instrument: &mut InstrumentId,
    ) -> R<Frame> {
        let start = out.len();
        let mut c = Cur { b: payload, i: 0 };
        let mut topic: Option<&[u8]> = None;
        let mut kind = Topic::Other;
        let mut typ: Option<&[u8]> = None;
        let mut ts: Option<u64> = None;
        let mut cs: Option<u64> = None;
        let mut op: Option<&[u8]> = None;
        let mut success: Option<bool> = None;
        let mut ret_msg: Option<&[u8]> = None;
        let mut req_id: Option<&[u8]> = None;
        // The data value: parsed where it lies when the topic came first, else its span.
        let mut data_at: Option<usize> = None;
        let mut book = BookData::default();
        let mut ticker = TickerData::default();
        let mut parsed = false;
        let mut unknown = 0u64;
        c.object(|c, key| {
            match key {
                b"topic" => {
                    let t = c.string()?;
                    kind = topic_kind(t);
                    topic = Some(t);
                }
                b"type" => typ = Some(c.string()?),
                b"ts" => ts = Some(c.u64()?),
                b"cs" => cs = Some(c.u64()?),
                b"data" => {
                    c.ws();
                    data_at = Some(c.i);
                    if topic.is_some() && kind != Topic::Other {
                        self.data(c, kind, recv_ts, out, &mut book, &mut ticker, &mut unknown)?;
                        parsed = true;
                    } else {
                        c.skip(0)?;
                    }
                }
                b"op" => op = Some(c.string()?),
                b"success" => success = Some(c.bool()?),
                b"ret_msg" => ret_msg = Some(c.string()?),
                b"req_id" => req_id = Some(c.string()?),
                b"cts" | b"conn_id" | b"args" | b"id" | b"creationTime" => c.skip(0)?,
                _ => {
                    unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        c.ws();
        if c.i != payload.len() {
            return Err(Reason::Json);
        }
        if topic.is_none() {
            return Ok(self.reply(op, success, ret_msg, req_id, unknown));
        }
        if kind == Topic::Other {
            self.stats.unknown_messages += 1;
            return Ok(Frame::Unknown);
        }
        let at = data_at.ok_or(Reason::Schema)?;
        if !parsed {
            // `data` came before `topic`: read it now.
            let mut d = Cur { b: payload, i: at };
            self.data(
                &mut d,
                kind,
                recv_ts,
                out,
                &mut book,
                &mut ticker,
                &mut unknown,
            )?;
        }
        let exchange_ts = match ts {
            Some(t) => t.checked_mul(1_000_000).ok_or(Reason::Number)?,
            None => 0,
        };
        let frame = match kind {
            Topic::Book { depth1 } => {
                let id = self.instrument(book.symbol)?;
                *instrument = id;
                let u = book.u.ok_or(Reason::Schema)?;
                if !(book.bids && book.asks) {
                    return Err(Reason::Schema);
                }
                let snapshot = match typ {
                    Some(b"snapshot") => true,
                    Some(b"delta") => false,
                    _ => return Err(Reason::Schema),
                };
                for e in &mut out[start..] {
                    e.instrument = id;
                    e.seq = u;
                    e.exchange_ts = exchange_ts;
                }
                if depth1 && self.book1_bbo.get(id.index()).copied().unwrap_or(false) {
                    return self.book1_to_bbo(id, u, exchange_ts, recv_ts, out, start);
                }
                let ids = DiffIds {
                    first: u,
                    last: u,
                    prev: None,
                };
                if let Some(last) = out.get_mut(start..).and_then(<[Event]>::last_mut) {
                    last.flags = Flags::LAST_IN_BATCH;
                }
                if snapshot {
                    Frame::BookSnapshot {
                        instrument: id,
                        ids,
                        checksum: None,
                    }
                } else {
                    Frame::BookDiff {
                        instrument: id,
                        ids,
                        checksum: None,
                    }
                }
            }
            Topic::Trade => Frame::Market,
            Topic::Ticker => {
                let id = self.instrument(ticker.symbol)?;
                *instrument = id;
                let snapshot = match typ {
                    Some(b"snapshot") => true,
                    Some(b"delta") => false,
                    _ => return Err(Reason::Schema),
                };
                self.ticker(id, snapshot, &ticker, cs, exchange_ts, recv_ts, out)?
            }
            Topic::Other => Frame::Unknown,
        };
        self.stats.unknown_fields += unknown;
        Ok(frame)
    }

    /// A reply to a request (no topic).
    fn reply(
        &mut self,
        op: Option<&[u8]>,
        success: Option<bool>,
        ret_msg: Option<&[u8]>,
        req_id: Option<&[u8]>,
        unknown: u64,
    ) -> Frame {
        let id = req_id.and_then(|r| match TradeId::parse(r) {
            Some(TradeId::Number(n)) => Some(n),
            _ => None,
        });
        let frame = match (op, success) {
            // Spot/linear answer `op:"ping"` with `ret_msg:"pong"`; options `op:"pong"`.
            (Some(b"pong"), _) => Frame::Pong,
            (Some(b"ping"), Some(true)) => Frame::Pong,
            (Some(b"ping"), None) if ret_msg == Some(b"pong") => Frame::Pong,
            (Some(b"subscribe" | b"unsubscribe"), Some(true)) => match id {
                Some(id) => Frame::Ack { id },
                None => Frame::Control,
            },
            (Some(_), Some(false)) => Frame::SubscriptionError { id, code: 0 },
            (Some(_), _) => Frame::Control,
            (None, _) => {
                self.stats.unknown_messages += 1;
                return Frame::Unknown;
            }
        };
        self.stats.unknown_fields += unknown;
        frame
    }

    /// Reads a `data` value for `kind`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn data<'a>(
        &mut self,
        c: &mut Cur<'a>,
        kind: Topic,
        recv_ts: u64,
        out: &mut Vec<Event>,
        book: &mut BookData<'a>,
        ticker: &mut TickerData<'a>,
        unknown: &mut u64,
    ) -> R<()> {
        match kind {
            Topic::Book { .. } => c.object(|c, key| {
                match key {
                    b"s" => book.symbol = Some(c.string()?),
                    b"u" => book.u = Some(c.u64()?),
                    b"b" => {
                        levels(c, Side::Buy, recv_ts, out)?;
                        book.bids = true;
                    }
                    b"a" => {
                        levels(c, Side::Sell, recv_ts, out)?;
                        book.asks = true;
                    }
                    b"seq" => {
                        c.u64()?;
                    }
                    _ => {
                        *unknown += 1;
                        c.skip(0)?;
                    }
                }
                Ok(())
            }),
            Topic::Trade => {
                match c.peek() {
                    Some(b'[') => c.i += 1,
                    _ => return Err(Reason::Schema),
                }
                if c.try_eat(b']') {
                    return Ok(());
                }
                loop {
                    self.trade(c, recv_ts, out, unknown)?;
                    if c.try_eat(b',') {
                        continue;
                    }
                    return c.eat(b']');
                }
            }
            Topic::Ticker => c.object(|c, key| {
                let slot = match key {
                    b"symbol" => {
                        ticker.symbol = Some(c.string()?);
                        return Ok(());
                    }
                    b"bid1Price" => 0,
                    b"bid1Size" => 1,
                    b"ask1Price" => 2,
                    b"ask1Size" => 3,
                    // Every other ticker field (prices, volumes, funding) is known and unused.
                    _ => return c.skip(0),
                };
                // An empty ticker side comes as `""`: zero.
                let text = c.string()?;
                ticker.values[slot] = if text.is_empty() {
                    Decimal::ZERO
                } else {
                    plain_decimal(text)?
                };
                ticker.present |= 1 << slot;
                Ok(())
            }),
            Topic::Other => c.skip(0),
        }
    }

    /// One trade object of a `publicTrade` message.
    #[inline(always)]
    fn trade(
        &mut self,
        c: &mut Cur<'_>,
        recv_ts: u64,
        out: &mut Vec<Event>,
        unknown: &mut u64,
    ) -> R<()> {
        let (mut t, mut s, mut side, mut v, mut p, mut i) = (None, None, None, None, None, None);
        c.object(|c, key| {
            match key {
                b"T" => t = Some(c.u64()?),
                b"s" => s = Some(c.string()?),
                b"S" => {
                    side = Some(match c.string()? {
                        b"Buy" => Side::Buy,
                        b"Sell" => Side::Sell,
                        _ => return Err(Reason::Schema),
                    })
                }
                b"v" => v = Some(c.decimal()?),
                b"p" => p = Some(c.decimal()?),
                b"i" => i = Some(c.string()?),
                // Tick direction, block trade, RPI, cross sequence, option marks.
                b"L" | b"BT" | b"RPI" | b"seq" | b"mP" | b"iP" | b"mIv" | b"iv" => c.skip(0)?,
                _ => {
                    *unknown += 1;
                    c.skip(0)?;
                }
            }
            Ok(())
        })?;
        let instrument = self.instrument(s)?;
        let price = p.ok_or(Reason::Schema)?;
        let qty = v.ok_or(Reason::Schema)?;
        let id = TradeId::parse(i.ok_or(Reason::Schema)?).ok_or(Reason::Schema)?;
        let ts = t
            .ok_or(Reason::Schema)?
            .checked_mul(1_000_000)
            .ok_or(Reason::Number)?;
        let trade = Trade {
            price,
            qty,
            side: side.ok_or(Reason::Schema)?,
            id: 0,
        };
        let e = Event::trade(instrument, trade, ts, recv_ts).map_err(|_| Reason::Number)?;
        out.push(e.with_trade_id(id));
        Ok(())
    }

    /// A spot `orderbook.1` message read as the symbol's BBO (its level events at
    /// `out[start..]` are replaced by one BBO event; an empty side is zero).
    #[cold]
    fn book1_to_bbo(
        &mut self,
        id: InstrumentId,
        u: u64,
        exchange_ts: u64,
        recv_ts: u64,
        out: &mut Vec<Event>,
        start: usize,
    ) -> R<Frame> {
        let side = |s: Side| {
            out[start..]
                .iter()
                .filter_map(Event::as_level)
                .find(|l| l.side == s)
                .map_or((Decimal::ZERO, Decimal::ZERO), |l| (l.price, l.qty))
        };
        let (bid_price, bid_qty) = side(Side::Buy);
        let (ask_price, ask_qty) = side(Side::Sell);
        out.truncate(start);
        let b = Bbo {
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
            seq: u,
        };
        out.push(Event::bbo(id, b, exchange_ts, recv_ts).map_err(|_| Reason::Number)?);
        Ok(Frame::Market)
    }

    /// Merges a ticker message into the symbol's last BBO; one BBO event when all four
    /// values are known and one of them came in this message.
    #[allow(clippy::too_many_arguments)]
    fn ticker(
        &mut self,
        id: InstrumentId,
        snapshot: bool,
        t: &TickerData<'_>,
        cs: Option<u64>,
        exchange_ts: u64,
        recv_ts: u64,
        out: &mut Vec<Event>,
    ) -> R<Frame> {
        let i = id.index();
        if self.tickers.len() <= i {
            // Only a decoder that interns unknown symbols gets here (tools): grows once.
            self.tickers.resize(i + 1, TickerBbo::default());
            self.book1_bbo.resize(i + 1, false);
        }
        let mut state = if snapshot {
            TickerBbo::default()
        } else {
            self.tickers[i]
        };
        for k in 0..4 {
            if t.present & (1 << k) != 0 {
                state.values[k] = t.values[k];
                state.known |= 1 << k;
            }
        }
        let [bid_price, bid_qty, ask_price, ask_qty] = state.values;
        let event = if state.known == 0b1111 && t.present != 0 {
            let b = Bbo {
                bid_price,
                bid_qty,
                ask_price,
                ask_qty,
                seq: cs.unwrap_or(0),
            };
            Some(Event::bbo(id, b, exchange_ts, recv_ts).map_err(|_| Reason::Number)?)
        } else {
            None
        };
        self.tickers[i] = state;
        if let Some(e) = event {
            out.push(e);
        }
        Ok(
            if t.present == 0 && snapshot && self.market == Market::Spot {
                // Spot tickers carry no BBO (24 h statistics only).
                Frame::Control
            } else {
                Frame::Market
            },
        )
    }
}

/// Appends the `[["price","size"], ...]` array at the cursor as level events (instrument,
/// seq and venue time are set by the caller once the message is read).
#[inline(always)]
fn levels(c: &mut Cur<'_>, side: Side, recv_ts: u64, out: &mut Vec<Event>) -> R<()> {
    match c.peek() {
        Some(b'[') => c.i += 1,
        _ => return Err(Reason::Schema),
    }
    if c.try_eat(b']') {
        return Ok(());
    }
    let zero = Level {
        side,
        price: Decimal::ZERO,
        qty: Decimal::ZERO,
        seq: 0,
    };
    let template = Event::level(InstrumentId::NONE, zero, Flags::EMPTY, 0, recv_ts)
        .map_err(|_| Reason::Number)?;
    let mut shapes = Shapes::new();
    loop {
        // The usual shape in one read (`scan_levels`); anything else (whitespace, escapes,
        // exponents, long numbers, errors) through the general reader, which answers alike
        // wherever the fast one does (tested).
        let (p, q, sep) = match scan_levels::pair(c.b, c.i, &mut shapes) {
            Some((p, q, end, sep)) => {
                c.i = end;
                (p, q, sep)
            }
            None => {
                let (p, q) = level_general(c)?;
                (p, q, c.b.get(c.i).copied().unwrap_or(0))
            }
        };
        let e = template.with_level(p, q).map_err(|_| Reason::Number)?;
        out.push(e);
        match sep {
            b',' => c.i += 1,
            b']' => {
                c.i += 1;
                return Ok(());
            }
            _ => {
                if c.try_eat(b',') {
                    continue;
                }
                return c.eat(b']');
            }
        }
    }
}

/// One level `["p","q"]` at the cursor read by the general reader (whitespace, escapes,
/// exponents, errors).
#[cold]
#[inline(never)]
fn level_general(c: &mut Cur<'_>) -> R<(Decimal, Decimal)> {
    c.eat(b'[')?;
    let p = c.decimal()?;
    c.eat(b',')?;
    let q = c.decimal()?;
    c.eat(b']')?;
    Ok((p, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan_levels::generate::{self, Rng};

    /// The level-array reader as it was before the fast path (the general reader alone):
    /// the model the fast path is checked against.
    fn levels_general(c: &mut Cur<'_>, side: Side, recv_ts: u64, out: &mut Vec<Event>) -> R<()> {
        match c.peek() {
            Some(b'[') => c.i += 1,
            _ => return Err(Reason::Schema),
        }
        if c.try_eat(b']') {
            return Ok(());
        }
        let zero = Level {
            side,
            price: Decimal::ZERO,
            qty: Decimal::ZERO,
            seq: 0,
        };
        let template = Event::level(InstrumentId::NONE, zero, Flags::EMPTY, 0, recv_ts)
            .map_err(|_| Reason::Number)?;
        loop {
            c.eat(b'[')?;
            let p = c.decimal()?;
            c.eat(b',')?;
            let q = c.decimal()?;
            c.eat(b']')?;
            let e = template.with_level(p, q).map_err(|_| Reason::Number)?;
            out.push(e);
            if c.b.get(c.i) == Some(&b',') {
                c.i += 1;
                continue;
            }
            if c.try_eat(b',') {
                continue;
            }
            return c.eat(b']');
        }
    }

    /// The level reader with its fast path answers exactly as the general reader alone on
    /// generated level arrays: the same levels and end on success, the same error
    /// otherwise (plain arrays, and arrays with whitespace, escapes, exponents, other
    /// number shapes, other arities and damaged bytes, which must fall back).
    #[test]
    fn fast_levels_agree_with_the_general_reader() {
        let mut r = Rng(0x6A09_E667_F3BC_C908);
        let (mut ok, mut levels_read, mut errors) = (0u32, 0usize, 0u32);
        let (mut fast_out, mut general_out) = (Vec::new(), Vec::new());
        for n in 0..200_000 {
            let b = generate::levels(&mut r, 2, n % 2 == 0);
            fast_out.clear();
            general_out.clear();
            let (mut f, mut g) = (Cur { b: &b, i: 0 }, Cur { b: &b, i: 0 });
            let fast = levels(&mut f, Side::Sell, 7, &mut fast_out);
            let general = levels_general(&mut g, Side::Sell, 7, &mut general_out);
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

    /// The one-pass reader and the general one agree on every text (a generated set:
    /// digits, points, signs, exponents, escapes, lengths around 18 digits and scale 15).
    #[test]
    fn the_one_pass_decimal_agrees_with_the_general_reader() {
        let alphabet = b"0123456789.0123456789.-+eE\\x";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut texts: Vec<Vec<u8>> = [
            "",
            "0",
            "0.0",
            "00",
            "01",
            "0.",
            ".5",
            "1.",
            "1..2",
            "16493.50",
            "0.006",
            "61837.63000000",
            "1.0000000000000000",
            "0.0000000000000001",
            "999999999999999999",
            "9999999999999999999",
            "1e5",
            "1.5e-3",
            "-1",
            "+1",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 22) as usize;
            let mut t = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly digits and points, sometimes anything of the alphabet.
                let k = (y >> 33) as usize;
                t.push(if k % 8 == 0 {
                    alphabet[k % alphabet.len()]
                } else {
                    b'0' + (k % 10) as u8
                });
            }
            if x % 5 == 0 && len > 2 {
                t[(x >> 20) as usize % len] = b'.';
            }
            texts.push(t);
        }
        for t in texts {
            let mut json = b"\"".to_vec();
            json.extend_from_slice(&t);
            json.push(b'"');
            let mut a = Cur { b: &json, i: 0 };
            let mut b = Cur { b: &json, i: 0 };
            let fast = a.decimal();
            let slow = b.string().and_then(plain_decimal);
            let parts = |d: Decimal| (d.mantissa(), d.scale());
            assert_eq!(
                fast.map(parts),
                slow.map(parts),
                "{:?}",
                String::from_utf8_lossy(&t)
            );
            if fast.is_ok() {
                assert_eq!(a.i, json.len());
            }
        }
    }
}
