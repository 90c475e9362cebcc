//! Kraken spot WebSocket v2 on the venue-neutral simulator core ([`crate::sim`]): `book`
//! at the subscribed depth (10, 25, 100, 500, 1000) — a snapshot after each subscribe, then
//! updates of the truncated view with the CRC32 of its top 10 — `trade`, `ticker` (BBO),
//! `instrument` (each pair's precisions), subscribe/unsubscribe answered once per symbol
//! with the `req_id`, errors for unknown channels, symbols or depths,
//! `{"method":"ping"}` → `pong`, a `status` message on connect and the `heartbeat` channel
//! after a second without data.
//!
//! Updates are what a client at the subscribed depth needs, as Kraken sends them
//! (venues.md §4): changes inside the view, deletes of levels that were inside, and the
//! levels that enter the view when others leave; nothing for levels pushed out (the client
//! truncates). There is no sequence.
//!
//! Content faults: `checksum` (one update carries a wrong checksum), `gap` (one update is
//! not sent: with no sequence, the next checksum shows it), `reset` (a fresh snapshot
//! mid-stream, which replaces the book), `malformed` (a message cut in half).
//!
//! `?trim=1` on the URL prints numbers without trailing zeros (`1797.3` for `1797.30`), as
//! a float printer would: then only the `instrument` channel's precisions give the right
//! checksums (venues.md §4, §12).

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::checksum::CHECKSUM_DEPTH;
use super::decode::parse_request;
use crate::sim::tape::{Change, IdRule, StepKind, TapeText};
use crate::sim::{
    Book, BookSide, ContentFaults, ControlOutcome, FaultCounts, FeedRequest, HttpAnswer, Level,
    Model, SessionDefaults, SimFault, SimFeed, SimVenue, SimVenueConfig, SimVenueEntry,
    SnapshotQueue, SymbolSpec, VenueError, push_fixed, push_u64,
};

/// Kraken in the simulator registry. Kraken sends no WebSocket pings (clients ping with
/// `{"method":"ping"}`); the server's own ping is set far apart so it does not interfere.
pub const KRAKEN_SIM: SimVenueEntry = SimVenueEntry {
    name: "kraken",
    aliases: &["kraken-spot"],
    defaults: SessionDefaults {
        ping_interval: Duration::from_secs(3600),
        pong_timeout: Duration::from_secs(7200),
        inbound_limit: None,
    },
    build,
};

/// The WebSocket path served.
pub const PATH: &str = "/v2";

fn build(c: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError> {
    let model = Model::build(
        c,
        spec,
        // Kraken has no update ids; the core's are not rendered.
        IdRule {
            base: 1,
            base_spread: 1,
            skip: None,
            span: (1, 1),
        },
        &Text,
    )?;
    Ok(Arc::new(KrakenSim(Arc::new(model))))
}

/// A symbol's formats: `BASE/QUOTE` of letters and digits (any case in, upper case out);
/// BTC/USD at 0.1, ETH/USD at 0.01, others at 0.00001; quantities at 1e-8.
fn spec(name: &str) -> Result<SymbolSpec, VenueError> {
    let upper = name.to_ascii_uppercase();
    let ok = (3..=20).contains(&upper.len())
        && upper.bytes().filter(|&b| b == b'/').count() == 1
        && !upper.starts_with('/')
        && !upper.ends_with('/')
        && upper
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'/');
    if !ok {
        return Err(VenueError::BadSymbol);
    }
    let h = upper.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let (decimals, start) = match upper.as_str() {
        "BTC/USD" => (1, 618_376),
        "ETH/USD" => (2, 179_725),
        _ => (5, 10_000 * (1 + h % 100)),
    };
    Ok(SymbolSpec {
        name: upper,
        price_decimals: decimals,
        tick: 1,
        qty_decimals: 8,
        lot: 10_000,
        start_price: start,
    })
}

/// A value as a JSON number at `decimals` (`1797.30`), or, with `trim`, without trailing
/// fractional zeros (`1797.3`).
fn push_num(out: &mut Vec<u8>, value: u64, decimals: u8, trim: bool) {
    push_fixed(out, value, decimals);
    if trim && decimals > 0 {
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.pop();
        }
    }
}

fn push_level(out: &mut Vec<u8>, trim: bool, spec: &SymbolSpec, price: u64, qty: u64) {
    out.extend_from_slice(b"{\"price\":");
    push_num(out, price, spec.price_decimals, trim);
    out.extend_from_slice(b",\"qty\":");
    push_num(out, qty, spec.qty_decimals, trim);
    out.push(b'}');
}

/// Appends `ns` since the epoch as RFC 3339 with microseconds (`2023-09-25T09:04:31.742599Z`).
fn push_time(out: &mut Vec<u8>, ns: u64) {
    let secs = ns / 1_000_000_000;
    let micros = (ns % 1_000_000_000) / 1_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let two = |out: &mut Vec<u8>, v: u64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    push_u64(out, y.max(0) as u64);
    out.push(b'-');
    two(out, m as u64);
    out.push(b'-');
    two(out, d as u64);
    out.push(b'T');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.push(b'.');
    push_fixed(out, micros, 0);
    // Left-pad the microseconds to six digits.
    let n = {
        let mut n = 1;
        let mut v = micros;
        while v >= 10 {
            v /= 10;
            n += 1;
        }
        n
    };
    let at = out.len() - n;
    for _ in n..6 {
        out.insert(at, b'0');
    }
    out.push(b'Z');
}

/// The tape's bodies: depth steps are rendered at send time (each connection has its own
/// depth), a trade is `"side":..,"price":..,"qty":..,"ord_type":..`, a ticker
/// `"bid":..,"bid_qty":..,"ask":..,"ask_qty":..`.
struct Text;

impl TapeText for Text {
    fn depth(&self, _out: &mut Vec<u8>, _spec: &SymbolSpec, _changes: &[Change], _book: &Book) {}

    fn trade(&self, out: &mut Vec<u8>, spec: &SymbolSpec, price: u64, qty: u64, maker: bool) {
        // The buyer is the maker: the seller took (Kraken's `side` is the taker's).
        out.extend_from_slice(if maker {
            b"\"side\":\"sell\",\"price\":"
        } else {
            b"\"side\":\"buy\",\"price\":"
        });
        push_fixed(out, price, spec.price_decimals);
        out.extend_from_slice(b",\"qty\":");
        push_fixed(out, qty, spec.qty_decimals);
        out.extend_from_slice(b",\"ord_type\":\"market\"");
    }

    fn ticker(&self, out: &mut Vec<u8>, spec: &SymbolSpec, bid: Level, ask: Level) {
        out.extend_from_slice(b"\"bid\":");
        push_fixed(out, bid.0, spec.price_decimals);
        out.extend_from_slice(b",\"bid_qty\":");
        push_fixed(out, bid.1, spec.qty_decimals);
        out.extend_from_slice(b",\"ask\":");
        push_fixed(out, ask.0, spec.price_decimals);
        out.extend_from_slice(b",\"ask_qty\":");
        push_fixed(out, ask.1, spec.qty_decimals);
    }
}

/// Subscribed channels per symbol.
const BOOK: u8 = 1;
const TRADE: u8 = 2;
const TICKER: u8 = 4;

fn channel_bit(name: &str) -> Option<u8> {
    match name {
        "book" => Some(BOOK),
        "trade" => Some(TRADE),
        "ticker" => Some(TICKER),
        _ => None,
    }
}

/// Kraken served by the simulator.
#[derive(Debug, Clone)]
pub struct KrakenSim(pub Arc<Model>);

impl SimVenue for KrakenSim {
    fn name(&self) -> &'static str {
        KRAKEN_SIM.name
    }

    fn model(&self) -> &Model {
        &self.0
    }

    fn defaults(&self) -> SessionDefaults {
        KRAKEN_SIM.defaults
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    /// [`PATH`] only (`?trim=1`: numbers without trailing zeros); subscriptions come in
    /// frames.
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer> {
        if req.path != PATH {
            return Err((
                "404 Not Found",
                b"{\"error\":\"this simulator serves /v2\"}".to_vec(),
            ));
        }
        let trim = crate::sim::query_param(req.query, "trim").is_some_and(|v| v == "1");
        Ok(Box::new(Feed::new(self.clone(), start_event, trim)))
    }

    /// Kraken's REST is not simulated: books start in-band.
    fn rest(&self, _: &str, _: &str, _: &str, _: u64, _: u64) -> Option<HttpAnswer> {
        Some((
            "404 Not Found",
            b"{\"error\":[\"EGeneral:Not found: this simulator serves WebSocket v2 only\"]}"
                .to_vec(),
        ))
    }
}

/// One side of a connection's book of a symbol: the venue's whole book (levels best first),
/// kept in step with the tape so the truncated view's changes can be found without
/// allocating (capacity reserved at subscribe time).
#[derive(Debug, Default)]
struct SideBook {
    levels: Vec<Level>,
}

impl SideBook {
    /// Index where `price` is or would be, best first.
    fn find(&self, side: BookSide, price: u64) -> Result<usize, usize> {
        self.levels.binary_search_by(|l| match side {
            BookSide::Bid => price.cmp(&l.0),
            BookSide::Ask => l.0.cmp(&price),
        })
    }

    fn set(&mut self, side: BookSide, price: u64, qty: u64) {
        match (self.find(side, price), qty) {
            (Ok(i), 0) => {
                self.levels.remove(i);
            }
            (Ok(i), q) => self.levels[i].1 = q,
            (Err(_), 0) => {}
            (Err(i), q) => self.levels.insert(i, (price, q)),
        }
    }

    /// Whether `price` ranks within the first `depth` levels (or the side is shorter).
    fn in_view(&self, side: BookSide, price: u64, depth: usize) -> bool {
        match self.levels.get(depth.saturating_sub(1)) {
            None => true,
            Some(&(edge, _)) => match side {
                BookSide::Bid => price >= edge,
                BookSide::Ask => price <= edge,
            },
        }
    }
}

/// A symbol's book on one connection.
#[derive(Debug, Default)]
struct SymBook {
    depth: usize,
    bids: SideBook,
    asks: SideBook,
    /// A snapshot has been sent since the (re)subscribe.
    live: bool,
}

impl SymBook {
    fn side(&mut self, side: BookSide) -> &mut SideBook {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }
}

/// The checksum of a view's top 10, from the rendered text (venues.md §4: each value at the
/// pair's precision, point deleted, leading zeros stripped; asks then bids).
fn view_checksum(spec: &SymbolSpec, book: &SymBook, text: &mut Vec<u8>) -> u32 {
    text.clear();
    for (p, q) in book
        .asks
        .levels
        .iter()
        .take(CHECKSUM_DEPTH)
        .chain(book.bids.levels.iter().take(CHECKSUM_DEPTH))
    {
        for (v, d) in [(*p, spec.price_decimals), (*q, spec.qty_decimals)] {
            let start = text.len();
            push_fixed(text, v, d);
            let mut w = start;
            let mut leading = true;
            for r in start..text.len() {
                let c = text[r];
                if c == b'.' || (leading && c == b'0') {
                    continue;
                }
                leading = false;
                text[w] = c;
                w += 1;
            }
            text.truncate(w);
        }
    }
    crc32fast::hash(text)
}

/// One connection: its cursor, subscriptions, owed answers and snapshots, books, faults.
#[derive(Debug)]
pub struct Feed {
    venue: KrakenSim,
    subs: Vec<u8>,
    books: Vec<SymBook>,
    cursor: u64,
    trim: bool,
    /// Answers owed after the first of a request (Kraken answers once per symbol).
    answers: VecDeque<Vec<u8>>,
    snapshots: SnapshotQueue,
    instrument_owed: bool,
    status_sent: bool,
    last_sent_ns: u64,
    faults: ContentFaults,
    /// Scratch: an update's levels (side, price, qty), and the checksum text.
    levels: Vec<(BookSide, u64, u64)>,
    text: Vec<u8>,
}

impl Feed {
    fn new(venue: KrakenSim, start_event: u64, trim: bool) -> Feed {
        let n = venue.0.symbol_count();
        Feed {
            venue,
            subs: vec![0; n],
            books: (0..n).map(|_| SymBook::default()).collect(),
            cursor: start_event,
            trim,
            answers: VecDeque::with_capacity(64),
            snapshots: SnapshotQueue::new(2 * n + 2),
            instrument_owed: false,
            status_sent: false,
            last_sent_ns: 0,
            faults: ContentFaults::default(),
            levels: Vec::with_capacity(4096),
            text: Vec::with_capacity(1024),
        }
    }

    fn head(out: &mut Vec<u8>, channel: &str, typ: &str) {
        out.extend_from_slice(b"{\"channel\":\"");
        out.extend_from_slice(channel.as_bytes());
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(typ.as_bytes());
        out.extend_from_slice(b"\",\"data\":[{\"symbol\":\"");
    }

    /// `sym`'s book at the cursor as a `book` snapshot of its depth; the connection's copy
    /// of the book starts again from it.
    fn snapshot(&mut self, sym: usize, now_ns: u64, out: &mut Vec<u8>) {
        let trim = self.trim;
        let model = &self.venue.0;
        let spec = model.spec(sym);
        let book = model.book_at(sym, self.cursor);
        let b = &mut self.books[sym];
        b.bids.levels.clear();
        b.bids.levels.extend(book.bids());
        b.asks.levels.clear();
        b.asks.levels.extend(book.asks());
        // Room for the tape's largest sides: updates never allocate.
        b.bids.levels.reserve(1024);
        b.asks.levels.reserve(1024);
        b.live = true;
        Self::head(out, "book", "snapshot");
        out.extend_from_slice(spec.name.as_bytes());
        out.extend_from_slice(b"\",\"bids\":[");
        let depth = b.depth;
        for (name, side) in [(&b""[..], &b.bids), (b"],\"asks\":[", &b.asks)] {
            out.extend_from_slice(name);
            for (i, (p, q)) in side.levels.iter().take(depth).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_level(out, trim, spec, *p, *q);
            }
        }
        let c = view_checksum(spec, &self.books[sym], &mut self.text);
        out.extend_from_slice(b"],\"checksum\":");
        push_u64(out, u64::from(c));
        out.extend_from_slice(b",\"timestamp\":\"");
        push_time(out, now_ns);
        out.extend_from_slice(b"\"}]}");
    }

    /// Applies a depth step's `changes` to the connection's copy of `sym`'s book and
    /// collects the update a client at its depth needs into `self.levels`.
    fn update(&mut self, sym: usize, changes: &[Change]) {
        self.levels.clear();
        let b = &mut self.books[sym];
        let depth = b.depth;
        // The view's edges before the step: levels beyond them were not in the view.
        let edge = |s: &SideBook| s.levels.get(depth.saturating_sub(1)).map(|l| l.0);
        let (bid_edge, ask_edge) = (edge(&b.bids), edge(&b.asks));
        for c in changes {
            if c.qty == 0 && b.side(c.side).in_view(c.side, c.price, depth) {
                self.levels.push((c.side, c.price, 0));
            }
        }
        for c in changes {
            b.side(c.side).set(c.side, c.price, c.qty);
        }
        for c in changes {
            if c.qty != 0 && b.side(c.side).in_view(c.side, c.price, depth) {
                self.levels.push((c.side, c.price, c.qty));
            }
        }
        // Levels that entered the view from beyond its old edge.
        for (side, s, e) in [
            (BookSide::Bid, &b.bids, bid_edge),
            (BookSide::Ask, &b.asks, ask_edge),
        ] {
            let Some(e) = e else { continue };
            for &(p, q) in s.levels.iter().take(depth) {
                let beyond = match side {
                    BookSide::Bid => p < e,
                    BookSide::Ask => p > e,
                };
                if beyond && !changes.iter().any(|c| c.side == side && c.price == p) {
                    self.levels.push((side, p, q));
                }
            }
        }
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
        let sent = self.next_inner(until, now_ns, out);
        if sent {
            self.last_sent_ns = now_ns;
        }
        sent
    }

    fn handle_control(&mut self, text: &mut [u8], reply: &mut Vec<u8>) -> ControlOutcome {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let times = |reply: &mut Vec<u8>| {
            reply.extend_from_slice(b",\"time_in\":\"");
            push_time(reply, now);
            reply.extend_from_slice(b"\",\"time_out\":\"");
            push_time(reply, now);
            reply.push(b'"');
        };
        let id_field = |reply: &mut Vec<u8>, id: Option<u64>| {
            if let Some(id) = id {
                reply.extend_from_slice(b",\"req_id\":");
                push_u64(reply, id);
            }
        };
        let Some(req) = parse_request(text) else {
            reply.extend_from_slice(b"{\"error\":\"Malformed request\",\"success\":false");
            times(reply);
            reply.push(b'}');
            return ControlOutcome::Rejected;
        };
        let error = |reply: &mut Vec<u8>, msg: &str| {
            reply.extend_from_slice(b"{\"error\":\"");
            reply.extend_from_slice(msg.as_bytes());
            reply.extend_from_slice(b"\",\"method\":\"");
            reply.extend_from_slice(req.method.as_bytes());
            reply.extend_from_slice(b"\"");
            id_field(reply, req.req_id);
            reply.extend_from_slice(b",\"success\":false");
            times(reply);
            reply.push(b'}');
            ControlOutcome::Rejected
        };
        let subscribe = match req.method.as_str() {
            "ping" => {
                reply.extend_from_slice(b"{\"method\":\"pong\"");
                id_field(reply, req.req_id);
                times(reply);
                reply.push(b'}');
                return ControlOutcome::Pong;
            }
            "subscribe" => true,
            "unsubscribe" => false,
            _ => return error(reply, "Method not supported"),
        };
        let channel = req.channel.clone().unwrap_or_default();
        if channel == "instrument" {
            self.instrument_owed = subscribe;
            reply.extend_from_slice(b"{\"method\":\"");
            reply.extend_from_slice(req.method.as_bytes());
            reply.extend_from_slice(
                b"\",\"result\":{\"channel\":\"instrument\",\"snapshot\":true},\"success\":true",
            );
            times(reply);
            id_field(reply, req.req_id);
            reply.push(b'}');
            return if subscribe {
                ControlOutcome::Subscribed
            } else {
                ControlOutcome::Unsubscribed
            };
        }
        let Some(bit) = channel_bit(&channel) else {
            return error(reply, "Channel not supported");
        };
        let depth = req.depth.unwrap_or(10);
        if bit == BOOK && ![10, 25, 100, 500, 1000].contains(&depth) {
            return error(reply, "Invalid depth");
        }
        if req.symbols.is_empty() {
            return error(reply, "Missing symbol");
        }
        let mut syms = Vec::with_capacity(req.symbols.len());
        for s in &req.symbols {
            match self.venue.0.symbol_index(s) {
                Some(i) => syms.push(i),
                None => return error(reply, &format!("Currency pair not supported {s}")),
            }
        }
        for (k, &sym) in syms.iter().enumerate() {
            let mut ans = Vec::with_capacity(256);
            ans.extend_from_slice(b"{\"method\":\"");
            ans.extend_from_slice(req.method.as_bytes());
            ans.extend_from_slice(b"\",\"result\":{\"channel\":\"");
            ans.extend_from_slice(channel.as_bytes());
            ans.extend_from_slice(b"\"");
            if bit == BOOK {
                ans.extend_from_slice(b",\"depth\":");
                push_u64(&mut ans, depth);
            }
            ans.extend_from_slice(b",\"symbol\":\"");
            ans.extend_from_slice(self.venue.0.spec(sym).name.as_bytes());
            ans.extend_from_slice(b"\"},\"success\":true");
            times(&mut ans);
            id_field(&mut ans, req.req_id);
            ans.push(b'}');
            if subscribe {
                self.subs[sym] |= bit;
                if bit == BOOK {
                    let b = &mut self.books[sym];
                    b.depth = depth as usize;
                    b.live = false;
                    self.snapshots.push(sym, BOOK);
                }
            } else {
                self.subs[sym] &= !bit;
                if bit == BOOK {
                    self.books[sym].live = false;
                    self.snapshots.cancel(sym, BOOK);
                }
            }
            if k == 0 {
                reply.extend_from_slice(&ans);
            } else if self.answers.len() < 4096 {
                self.answers.push_back(ans);
            }
        }
        if subscribe {
            ControlOutcome::Subscribed
        } else {
            ControlOutcome::Unsubscribed
        }
    }

    /// Every content fault applies (`gap` and `reset` in Kraken's terms: an update not
    /// sent, a fresh snapshot).
    fn inject(&mut self, fault: SimFault) -> bool {
        self.faults.arm(fault);
        true
    }

    fn faults_made(&self) -> FaultCounts {
        self.faults.made()
    }
}

impl Feed {
    fn next_inner(&mut self, until: u64, now_ns: u64, out: &mut Vec<u8>) -> bool {
        if !self.status_sent {
            self.status_sent = true;
            out.extend_from_slice(b"{\"channel\":\"status\",\"type\":\"update\",\"data\":[{\"api_version\":\"v2\",\"connection_id\":1,\"system\":\"online\",\"version\":\"2.0.0\"}]}");
            return true;
        }
        if let Some(ans) = self.answers.pop_front() {
            out.extend_from_slice(&ans);
            return true;
        }
        if self.instrument_owed {
            self.instrument_owed = false;
            out.extend_from_slice(b"{\"channel\":\"instrument\",\"type\":\"snapshot\",\"data\":{\"assets\":[],\"pairs\":[");
            let model = &self.venue.0;
            for sym in 0..model.symbol_count() {
                let spec = model.spec(sym);
                if sym > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"symbol\":\"");
                out.extend_from_slice(spec.name.as_bytes());
                out.extend_from_slice(b"\",\"status\":\"online\",\"price_precision\":");
                push_u64(out, u64::from(spec.price_decimals));
                out.extend_from_slice(b",\"qty_precision\":");
                push_u64(out, u64::from(spec.qty_decimals));
                out.extend_from_slice(b",\"price_increment\":");
                push_fixed(out, spec.tick, spec.price_decimals);
                out.extend_from_slice(b",\"qty_increment\":");
                push_fixed(out, 1, spec.qty_decimals);
                out.push(b'}');
            }
            out.extend_from_slice(b"]}}");
            return true;
        }
        if let Some((sym, _)) = self.snapshots.pop() {
            self.snapshot(sym, now_ns, out);
            return true;
        }
        loop {
            if self.cursor >= until {
                // Kraken's idle check: a heartbeat after a second without data.
                if self.has_subscriptions()
                    && now_ns.saturating_sub(self.last_sent_ns) >= 1_000_000_000
                {
                    out.extend_from_slice(b"{\"channel\":\"heartbeat\"}");
                    return true;
                }
                return false;
            }
            let n = self.cursor;
            self.cursor += 1;
            let venue = self.venue.clone();
            let model: &Model = &venue.0;
            let (sym, pos) = model.locate(n);
            let mask = self.subs[sym];
            if mask == 0 {
                continue;
            }
            let tape = model.tape(sym);
            let step = tape.step(pos);
            let spec = model.spec(sym);
            let start = out.len();
            match step.kind {
                StepKind::Depth if mask & BOOK != 0 && self.books[sym].live => {
                    self.update(sym, tape.changes(step));
                    if self.levels.is_empty() {
                        continue; // nothing changed inside the view
                    }
                    if self.faults.fire(SimFault::Gap) {
                        continue; // the client never sees this update
                    }
                    if self.faults.fire(SimFault::Reset) {
                        // A fresh snapshot instead (the book at the cursor includes this step).
                        self.snapshot(sym, now_ns, out);
                        return true;
                    }
                    Self::head(out, "book", "update");
                    out.extend_from_slice(spec.name.as_bytes());
                    out.extend_from_slice(b"\",\"bids\":[");
                    for (name, side) in
                        [(&b""[..], BookSide::Bid), (b"],\"asks\":[", BookSide::Ask)]
                    {
                        out.extend_from_slice(name);
                        let mut first = true;
                        for i in 0..self.levels.len() {
                            let (s, p, q) = self.levels[i];
                            if s != side {
                                continue;
                            }
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            push_level(out, self.trim, spec, p, q);
                        }
                    }
                    let mut c = view_checksum(spec, &self.books[sym], &mut self.text);
                    if self.faults.fire(SimFault::Checksum) {
                        c = c.wrapping_add(1);
                    }
                    out.extend_from_slice(b"],\"checksum\":");
                    push_u64(out, u64::from(c));
                    out.extend_from_slice(b",\"timestamp\":\"");
                    push_time(out, now_ns);
                    out.extend_from_slice(b"\"}]}");
                }
                StepKind::Trade if mask & TRADE != 0 => {
                    Self::head(out, "trade", "update");
                    out.extend_from_slice(spec.name.as_bytes());
                    out.extend_from_slice(b"\",");
                    out.extend_from_slice(tape.text(step));
                    out.extend_from_slice(b",\"trade_id\":");
                    push_u64(out, tape.base_trade_id + tape.trades_before(pos));
                    out.extend_from_slice(b",\"timestamp\":\"");
                    push_time(out, now_ns);
                    out.extend_from_slice(b"\"}]}");
                }
                StepKind::Ticker if mask & TICKER != 0 => {
                    Self::head(out, "ticker", "update");
                    out.extend_from_slice(spec.name.as_bytes());
                    out.extend_from_slice(b"\",");
                    out.extend_from_slice(tape.text(step));
                    out.extend_from_slice(b",\"timestamp\":\"");
                    push_time(out, now_ns);
                    out.extend_from_slice(b"\"}]}");
                }
                _ => continue,
            }
            if self.faults.fire(SimFault::Malformed) {
                out.truncate(start + (out.len() - start) / 2);
            }
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_rfc3339_with_microseconds() {
        let mut out = Vec::new();
        push_time(&mut out, 1_695_632_671_742_599_000);
        assert_eq!(out, b"2023-09-25T09:04:31.742599Z");
        out.clear();
        push_time(&mut out, 1_000);
        assert_eq!(out, b"1970-01-01T00:00:00.000001Z");
        assert_eq!(
            super::super::parse_timestamp(b"2024-02-29T23:59:59.000042Z"),
            {
                let mut o = Vec::new();
                push_time(&mut o, 1_709_251_199_000_042_000);
                assert_eq!(o, b"2024-02-29T23:59:59.000042Z");
                Some(1_709_251_199_000_042_000)
            }
        );
    }
}
