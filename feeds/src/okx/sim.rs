//! OKX v5 public on the venue-neutral simulator core ([`crate::sim`]): `books` (a snapshot
//! after each subscribe, then updates chained by `prevSeqId`/`seqId`, with the historical
//! CRC32 checksum of the book after each), `trades`, `bbo-tbt`, subscribe/unsubscribe with
//! one ack per arg, `error` events for unknown channels or instIds, text `ping` → `pong`,
//! and the REST `GET /api/v5/market/books`. Content faults: a gap (an update skipped), a
//! malformed message, a wrong checksum, a reset of `seqId` below `prevSeqId` (maintenance).

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::checksum::CHECKSUM_DEPTH;
use crate::sim::tape::{Change, IdRule, StepKind, TapeText};
use crate::sim::{
    Book, BookSide, ContentFaults, ControlOutcome, FaultCounts, FeedRequest, HttpAnswer, Level,
    Model, SessionDefaults, SimFault, SimFeed, SimVenue, SimVenueConfig, SimVenueEntry,
    SnapshotQueue, SymbolSpec, VenueError, push_fixed, push_u64, query_param,
};

/// OKX in the simulator registry. OKX sends no WebSocket pings (the client pings with text
/// `ping`); the server's own ping is set far apart so it does not interfere.
pub const OKX_SIM: SimVenueEntry = SimVenueEntry {
    name: "okx",
    aliases: &["okx-public"],
    defaults: SessionDefaults {
        ping_interval: Duration::from_secs(3600),
        pong_timeout: Duration::from_secs(7200),
        inbound_limit: None,
    },
    build,
};

fn build(c: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError> {
    let model = Model::build(
        c,
        spec,
        // One seqId a diff or a few (OKX's are increasing, not contiguous).
        IdRule {
            base: 1_000_000_000,
            base_spread: 1_000_000_000,
            skip: None,
            span: (1, 4),
        },
        &Text,
    )?;
    Ok(Arc::new(OkxSim(Arc::new(model))))
}

/// A symbol's formats: an instId of letters, digits and `-` (any case in, upper case out),
/// prices at 0.1 (BTC/ETH) or 0.001, sizes at 1e-6.
fn spec(name: &str) -> Result<SymbolSpec, VenueError> {
    let upper = name.to_ascii_uppercase();
    if !(3..=32).contains(&upper.len())
        || !upper
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(VenueError::BadSymbol);
    }
    let h = upper.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let (decimals, start) = match upper.as_str() {
        "BTC-USDT" => (1, 618_376),
        "ETH-USDT" => (1, 26_504),
        _ => (3, 1_000 * (1 + h % 1000)),
    };
    Ok(SymbolSpec {
        name: upper,
        price_decimals: decimals,
        tick: 1,
        qty_decimals: 6,
        lot: 1_000,
        start_price: start,
    })
}

/// A value in OKX's text form: no trailing fractional zeros, no trailing point.
fn push_okx(out: &mut Vec<u8>, value: u64, decimals: u8) {
    let start = out.len();
    push_fixed(out, value, decimals);
    if decimals > 0 {
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
    }
    if out.len() == start {
        out.push(b'0');
    }
}

fn push_level(out: &mut Vec<u8>, spec: &SymbolSpec, price: u64, qty: u64) {
    out.extend_from_slice(b"[\"");
    push_okx(out, price, spec.price_decimals);
    out.extend_from_slice(b"\",\"");
    push_okx(out, qty, spec.qty_decimals);
    out.extend_from_slice(b"\",\"0\",\"");
    push_u64(out, 1 + (price + qty) % 7);
    out.extend_from_slice(b"\"]");
}

/// OKX's checksum of a simulator book (venues.md §6), from the rendered strings.
fn book_checksum(spec: &SymbolSpec, book: &Book) -> i32 {
    let bids: Vec<Level> = book.bids().take(CHECKSUM_DEPTH).collect();
    let asks: Vec<Level> = book.asks().take(CHECKSUM_DEPTH).collect();
    let mut text = Vec::with_capacity(2048);
    for i in 0..CHECKSUM_DEPTH {
        for side in [&bids, &asks] {
            if let Some(&(p, q)) = side.get(i) {
                if !text.is_empty() {
                    text.push(b':');
                }
                push_okx(&mut text, p, spec.price_decimals);
                text.push(b':');
                push_okx(&mut text, q, spec.qty_decimals);
            }
        }
    }
    crc32fast::hash(&text) as i32
}

/// The tape's bodies: a depth step is `"checksum":C,"asks":[..],"bids":[..]`, a trade
/// `"px":..,"sz":..,"side":..`, a ticker `"asks":[[..]],"bids":[[..]]`.
struct Text;

impl TapeText for Text {
    fn depth(&self, out: &mut Vec<u8>, spec: &SymbolSpec, changes: &[Change], book: &Book) {
        out.extend_from_slice(b"\"checksum\":");
        let c = book_checksum(spec, book);
        if c < 0 {
            out.push(b'-');
        }
        push_u64(out, u64::from(c.unsigned_abs()));
        for (name, side) in [
            (&b",\"asks\":["[..], BookSide::Ask),
            (b",\"bids\":[", BookSide::Bid),
        ] {
            out.extend_from_slice(name);
            let mut first = true;
            for ch in changes.iter().filter(|c| c.side == side) {
                if !first {
                    out.push(b',');
                }
                first = false;
                push_level(out, spec, ch.price, ch.qty);
            }
            out.push(b']');
        }
    }

    fn trade(&self, out: &mut Vec<u8>, spec: &SymbolSpec, price: u64, qty: u64, maker: bool) {
        out.extend_from_slice(b"\"px\":\"");
        push_okx(out, price, spec.price_decimals);
        out.extend_from_slice(b"\",\"sz\":\"");
        push_okx(out, qty, spec.qty_decimals);
        // The buyer is the maker: the seller took.
        out.extend_from_slice(if maker {
            b"\",\"side\":\"sell\""
        } else {
            b"\",\"side\":\"buy\""
        });
    }

    fn ticker(&self, out: &mut Vec<u8>, spec: &SymbolSpec, bid: Level, ask: Level) {
        out.extend_from_slice(b"\"asks\":[");
        push_level(out, spec, ask.0, ask.1);
        out.extend_from_slice(b"],\"bids\":[");
        push_level(out, spec, bid.0, bid.1);
        out.push(b']');
    }
}

/// Subscribed channels per symbol.
const BOOKS: u8 = 1;
const TRADES: u8 = 2;
const BBO: u8 = 4;

fn channel_bit(name: &[u8]) -> Option<u8> {
    match name {
        b"books" => Some(BOOKS),
        b"trades" => Some(TRADES),
        b"bbo-tbt" => Some(BBO),
        _ => None,
    }
}

fn channel_name(bit: u8) -> &'static str {
    match bit {
        BOOKS => "books",
        TRADES => "trades",
        _ => "bbo-tbt",
    }
}

/// OKX served by the simulator.
#[derive(Debug, Clone)]
pub struct OkxSim(pub Arc<Model>);

impl OkxSim {
    /// Renders `sym`'s book before `event` as a REST `market/books` answer (`seqId` less
    /// `offset`) or, with `ws`, as a `books` snapshot message.
    fn render_book(
        &self,
        sym: usize,
        event: u64,
        offset: u64,
        now_ms: u64,
        ws: bool,
        out: &mut Vec<u8>,
    ) {
        let model = &self.0;
        let spec = model.spec(sym);
        let book = model.book_at(sym, event);
        let seq = model.update_id_at(sym, event).wrapping_sub(offset);
        if ws {
            out.extend_from_slice(b"{\"arg\":{\"channel\":\"books\",\"instId\":\"");
            out.extend_from_slice(spec.name.as_bytes());
            out.extend_from_slice(b"\"},\"action\":\"snapshot\",\"data\":[{\"asks\":[");
        } else {
            out.extend_from_slice(b"{\"code\":\"0\",\"msg\":\"\",\"data\":[{\"asks\":[");
        }
        for (i, (p, q)) in book.asks().take(400).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_level(out, spec, p, q);
        }
        out.extend_from_slice(b"],\"bids\":[");
        for (i, (p, q)) in book.bids().take(400).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_level(out, spec, p, q);
        }
        out.extend_from_slice(b"],\"ts\":\"");
        push_u64(out, now_ms);
        out.push(b'"');
        if ws {
            out.extend_from_slice(b",\"checksum\":");
            let c = book_checksum(spec, &book);
            if c < 0 {
                out.push(b'-');
            }
            push_u64(out, u64::from(c.unsigned_abs()));
            out.extend_from_slice(b",\"prevSeqId\":-1");
        }
        out.extend_from_slice(b",\"seqId\":");
        push_u64(out, seq);
        out.extend_from_slice(b"}]}");
    }
}

impl SimVenue for OkxSim {
    fn name(&self) -> &'static str {
        OKX_SIM.name
    }

    fn model(&self) -> &Model {
        &self.0
    }

    fn defaults(&self) -> SessionDefaults {
        OKX_SIM.defaults
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn snapshot_path(&self, symbol: &str, limit: u32) -> Option<String> {
        Some(format!(
            "/api/v5/market/books?instId={}&sz={limit}",
            symbol.to_ascii_uppercase()
        ))
    }

    /// `/ws/v5/public` only; subscriptions come in frames.
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer> {
        if req.path != "/ws/v5/public" {
            return Err((
                "404 Not Found",
                b"{\"event\":\"error\",\"code\":\"60018\",\"msg\":\"Wrong URL\"}".to_vec(),
            ));
        }
        Ok(Box::new(Feed::new(self.clone(), start_event)))
    }

    /// `GET /api/v5/market/books?instId=..&sz=..`.
    fn rest(
        &self,
        method: &str,
        path: &str,
        query: &str,
        event: u64,
        now_ns: u64,
    ) -> Option<HttpAnswer> {
        if path != "/api/v5/market/books" {
            return Some((
                "404 Not Found",
                b"{\"code\":\"50000\",\"msg\":\"Not found: this simulator serves /api/v5/market/books\",\"data\":[]}".to_vec(),
            ));
        }
        if method != "GET" {
            return Some((
                "405 Method Not Allowed",
                b"{\"code\":\"50000\",\"msg\":\"GET only\",\"data\":[]}".to_vec(),
            ));
        }
        let inst = query_param(query, "instId").unwrap_or_default();
        let Some(sym) = self.0.symbol_index(&inst) else {
            return Some((
                "200 OK",
                b"{\"code\":\"51001\",\"msg\":\"Instrument ID does not exist\",\"data\":[]}"
                    .to_vec(),
            ));
        };
        let mut body = Vec::with_capacity(64 * 1024);
        self.render_book(sym, event, 0, now_ns / 1_000_000, false, &mut body);
        Some(("200 OK", body))
    }
}

/// One connection: its cursor, subscriptions, owed acks and snapshots, faults, and per
/// symbol the `seqId` offset its resets made.
#[derive(Debug)]
pub struct Feed {
    venue: OkxSim,
    subs: Vec<u8>,
    cursor: u64,
    /// Acks owed after the first one of a request (OKX answers each arg in its own frame):
    /// (symbol, channel bit, subscribe?).
    acks: VecDeque<(usize, u8, bool)>,
    snapshots: SnapshotQueue,
    faults: ContentFaults,
    /// Per symbol: subtracted from the model's ids (grows at each reset).
    offsets: Vec<u64>,
}

impl Feed {
    fn new(venue: OkxSim, start_event: u64) -> Feed {
        let n = venue.0.symbol_count();
        Feed {
            venue,
            subs: vec![0; n],
            cursor: start_event,
            acks: VecDeque::with_capacity(64),
            snapshots: SnapshotQueue::new(4 * n + 4),
            faults: ContentFaults::default(),
            offsets: vec![0; n],
        }
    }

    fn push_ack(&self, out: &mut Vec<u8>, sym: usize, bit: u8, subscribe: bool) {
        out.extend_from_slice(if subscribe {
            b"{\"event\":\"subscribe\",\"arg\":{\"channel\":\""
        } else {
            b"{\"event\":\"unsubscribe\",\"arg\":{\"channel\":\""
        });
        out.extend_from_slice(channel_name(bit).as_bytes());
        out.extend_from_slice(b"\",\"instId\":\"");
        out.extend_from_slice(self.venue.0.spec(sym).name.as_bytes());
        out.extend_from_slice(b"\"},\"connId\":\"5im\"}");
    }

    /// Reads `{"op":..,"args":[{"channel":..,"instId":..},..]}` (the simulator's own strict
    /// reading: OKX's documented request shape, keys in any order).
    fn parse_request(text: &[u8]) -> Option<(bool, Vec<(String, String)>)> {
        let s = std::str::from_utf8(text).ok()?;
        let op = if s.contains("\"op\":\"subscribe\"") {
            true
        } else if s.contains("\"op\":\"unsubscribe\"") {
            false
        } else {
            return None;
        };
        let args = s.split_once("\"args\":[")?.1;
        let mut v = Vec::new();
        for obj in args.split('{').skip(1) {
            let field = |k: &str| {
                let key = format!("\"{k}\":\"");
                obj.split_once(key.as_str())
                    .and_then(|(_, r)| r.split_once('"'))
                    .map(|(v, _)| v.to_string())
            };
            v.push((field("channel")?, field("instId")?));
        }
        (!v.is_empty()).then_some((op, v))
    }
}

impl SimFeed for Feed {
    fn has_subscriptions(&self) -> bool {
        self.subs.iter().any(|&m| m != 0)
    }

    fn cursor(&self) -> u64 {
        self.cursor
    }

    fn skip_to(&mut self, event: u64) {
        self.cursor = self.cursor.max(event);
    }

    fn next_message(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        let now_ms = now_ns / 1_000_000;
        if let Some((sym, bit, sub)) = self.acks.pop_front() {
            self.push_ack(out, sym, bit, sub);
            return true;
        }
        if let Some((sym, _)) = self.snapshots.pop() {
            self.venue
                .render_book(sym, self.cursor, self.offsets[sym], now_ms, true, out);
            return true;
        }
        loop {
            if self.cursor >= until {
                return false;
            }
            let n = self.cursor;
            self.cursor += 1;
            let model: &Model = &self.venue.0;
            let (sym, pos) = model.locate(n);
            let mask = self.subs[sym];
            if mask == 0 {
                continue;
            }
            let tape = model.tape(sym);
            let step = tape.step(pos);
            let start = out.len();
            let name = model.spec(sym).name.as_bytes();
            match step.kind {
                StepKind::Depth if mask & BOOKS != 0 => {
                    if self.faults.fire(SimFault::Gap) {
                        continue;
                    }
                    // A skipped diff (gap) leaves this prevSeqId pointing at it.
                    let (_, last, prev) = tape.depth_ids(pos);
                    let prev = prev.wrapping_sub(self.offsets[sym]);
                    let mut seq = last.wrapping_sub(self.offsets[sym]);
                    if self.faults.fire(SimFault::Reset) {
                        // After maintenance: seqId below prevSeqId, then counting on from it.
                        let low = 1 + (seq % 1000).min(prev.saturating_sub(1));
                        self.offsets[sym] = last - low;
                        seq = low;
                    }
                    out.extend_from_slice(b"{\"arg\":{\"channel\":\"books\",\"instId\":\"");
                    out.extend_from_slice(name);
                    out.extend_from_slice(b"\"},\"action\":\"update\",\"data\":[{");
                    let body = tape.text(step);
                    if self.faults.fire(SimFault::Checksum) {
                        // `"checksum":C,...`: C replaced by another value.
                        let comma = body.iter().position(|&b| b == b',').unwrap_or(body.len());
                        out.extend_from_slice(b"\"checksum\":");
                        let c = std::str::from_utf8(&body[11..comma])
                            .ok()
                            .and_then(|t| t.parse::<i64>().ok())
                            .unwrap_or(0);
                        let wrong = if c == 1 { 2 } else { 1 };
                        push_u64(out, wrong);
                        out.extend_from_slice(&body[comma..]);
                    } else {
                        out.extend_from_slice(body);
                    }
                    out.extend_from_slice(b",\"ts\":\"");
                    push_u64(out, now_ms);
                    out.extend_from_slice(b"\",\"prevSeqId\":");
                    push_u64(out, prev);
                    out.extend_from_slice(b",\"seqId\":");
                    push_u64(out, seq);
                    out.extend_from_slice(b"}]}");
                }
                StepKind::Trade if mask & TRADES != 0 => {
                    out.extend_from_slice(b"{\"arg\":{\"channel\":\"trades\",\"instId\":\"");
                    out.extend_from_slice(name);
                    out.extend_from_slice(b"\"},\"data\":[{\"instId\":\"");
                    out.extend_from_slice(name);
                    out.extend_from_slice(b"\",\"tradeId\":\"");
                    push_u64(out, tape.base_trade_id + tape.trades_before(pos));
                    out.extend_from_slice(b"\",");
                    out.extend_from_slice(tape.text(step));
                    out.extend_from_slice(b",\"ts\":\"");
                    push_u64(out, now_ms);
                    out.extend_from_slice(b"\",\"count\":\"1\"}]}");
                }
                StepKind::Ticker if mask & BBO != 0 => {
                    out.extend_from_slice(b"{\"arg\":{\"channel\":\"bbo-tbt\",\"instId\":\"");
                    out.extend_from_slice(name);
                    out.extend_from_slice(b"\"},\"data\":[{");
                    out.extend_from_slice(tape.text(step));
                    out.extend_from_slice(b",\"ts\":\"");
                    push_u64(out, now_ms);
                    out.extend_from_slice(b"\",\"seqId\":");
                    push_u64(
                        out,
                        tape.update_id_after(pos).wrapping_sub(self.offsets[sym]),
                    );
                    out.extend_from_slice(b"}]}");
                }
                _ => continue,
            }
            if self.faults.fire(SimFault::Malformed) {
                out.truncate(start + (out.len() - start) / 2);
            }
            return true;
        }
    }

    fn handle_control(&mut self, text: &mut [u8], reply: &mut Vec<u8>) -> ControlOutcome {
        if text.trim_ascii() == b"ping" {
            reply.extend_from_slice(b"pong");
            return ControlOutcome::Pong;
        }
        let Some((subscribe, args)) = Self::parse_request(text) else {
            reply.extend_from_slice(
                b"{\"event\":\"error\",\"code\":\"60012\",\"msg\":\"Invalid request\",\"connId\":\"5im\"}",
            );
            return ControlOutcome::Rejected;
        };
        // Every arg is checked first: one bad arg refuses the request.
        let mut parsed = Vec::with_capacity(args.len());
        for (channel, inst) in &args {
            match (
                channel_bit(channel.as_bytes()),
                self.venue.0.symbol_index(inst),
            ) {
                (Some(bit), Some(sym)) => parsed.push((sym, bit)),
                _ => {
                    reply.extend_from_slice(
                        format!(
                            "{{\"event\":\"error\",\"code\":\"60018\",\"msg\":\"Wrong URL or channel:{channel},instId:{inst} doesn't exist\",\"connId\":\"5im\"}}"
                        )
                        .as_bytes(),
                    );
                    return ControlOutcome::Rejected;
                }
            }
        }
        for (i, &(sym, bit)) in parsed.iter().enumerate() {
            if subscribe {
                self.subs[sym] |= bit;
                if bit == BOOKS && !self.snapshots.push(sym, BOOKS) {
                    continue;
                }
            } else {
                self.subs[sym] &= !bit;
                if bit == BOOKS {
                    self.snapshots.cancel(sym, BOOKS);
                }
            }
            if i == 0 {
                self.push_ack(reply, sym, bit, subscribe);
            } else if self.acks.len() < 4096 {
                self.acks.push_back((sym, bit, subscribe));
            }
        }
        if subscribe {
            ControlOutcome::Subscribed
        } else {
            ControlOutcome::Unsubscribed
        }
    }

    /// Every content fault applies to OKX.
    fn inject(&mut self, fault: SimFault) -> bool {
        self.faults.arm(fault);
        true
    }

    fn faults_made(&self) -> FaultCounts {
        self.faults.made()
    }
}
