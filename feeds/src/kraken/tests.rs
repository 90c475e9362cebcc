//! Kraken v2 decode tests on the documented messages (venues.md §4, §12) and edge cases,
//! the checksum vectors of venues.md (worked example A, recomputed there independently),
//! the checksum against an independent implementation of the recipe over random books at
//! every precision 0–10, depth truncation against a model, and the adapter's frames and
//! ack accounting.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickwire_engine::adapter::{DiffIds, Frame};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, Side};
use tickwire_engine::{Decimal, Event, FeedAdapter, Reason, Registry, TradeId};

use super::checksum::book_checksum;
use super::*;
use crate::binance::Symbols;

fn d(s: &str) -> Decimal {
    Decimal::parse(s.as_bytes()).unwrap()
}

fn decoder(registry: &Registry, symbols: &[&str]) -> Decoder {
    let mut s = Symbols::new(VENUE);
    let mut ids = Vec::new();
    for sym in symbols {
        ids.push(s.add(registry, sym));
    }
    let mut dec = Decoder::new(s);
    for id in ids {
        dec.prepare(id);
    }
    dec
}

fn decode(dec: &mut Decoder, text: &str) -> (Result<Frame, Reason>, Vec<Event>) {
    let mut out = Vec::new();
    let r = dec
        .decode(text.as_bytes(), 7, &mut out)
        .map_err(|e| e.reason);
    (r, out)
}

fn text(v: Decimal) -> String {
    let mut buf = [0u8; 48];
    v.write_to(&mut buf).to_owned()
}

/// Worked example A of venues.md §4 (ETH/USD, depth 10): asks then bids, as Kraken prints
/// them (full precision).
const EX_A_ASKS: [(&str, &str); 10] = [
    ("1797.25", "1.40355852"),
    ("1797.28", "10.82400000"),
    ("1797.29", "139.09899871"),
    ("1797.30", "139.09783403"),
    ("1797.37", "139.09216827"),
    ("1797.41", "5.24638952"),
    ("1797.42", "0.01780330"),
    ("1797.46", "33.05700000"),
    ("1797.48", "3.11556555"),
    ("1797.49", "139.49306646"),
];
const EX_A_BIDS: [(&str, &str); 10] = [
    ("1797.24", "0.43393711"),
    ("1797.18", "139.10616255"),
    ("1797.13", "139.10995927"),
    ("1797.12", "0.80386470"),
    ("1797.07", "139.11517673"),
    ("1796.98", "5.22282896"),
    ("1796.97", "12.17138476"),
    ("1796.95", "139.69390939"),
    ("1796.88", "4.21870000"),
    ("1796.85", "1.22932317"),
];

fn levels_json(levels: &[(&str, &str)], normalise: bool) -> String {
    let n = |s: &str| {
        if normalise && s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    levels
        .iter()
        .map(|(p, q)| format!(r#"{{"price":{},"qty":{}}}"#, n(p), n(q)))
        .collect::<Vec<_>>()
        .join(",")
}

fn example_a_snapshot(normalise: bool) -> String {
    format!(
        r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"ETH/USD","bids":[{}],"asks":[{}],"checksum":2606672715,"timestamp":"2025-05-06T10:00:00.000000Z"}}]}}"#,
        levels_json(&EX_A_BIDS, normalise),
        levels_json(&EX_A_ASKS, normalise)
    )
}

const EX_A_UPDATE: &str = r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[{"price":1797.29,"qty":0.00000000},{"price":1797.52,"qty":1.56601318}],"checksum":3329440863,"timestamp":"2025-05-06T10:00:00.100000Z"}]}"#;

/// Runs example A through the decoder into a depth-10 book; returns the two checksums.
fn run_example_a(normalise: bool, precision: Option<(u8, u8)>) -> (u32, u32) {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["ETH/USD"]);
    let eth = reg.lookup(VENUE, "ETH/USD").unwrap();
    if let Some((p, q)) = precision {
        dec.set_precision(eth, p, q);
    }
    let mut book = Book::new(BookConfig::with_depth(10));
    let (r, ev) = decode(&mut dec, &example_a_snapshot(normalise));
    assert!(
        matches!(
            r,
            Ok(Frame::BookSnapshot {
                checksum: Some(2606672715),
                ..
            })
        ),
        "{r:?}"
    );
    for e in &ev {
        book.apply_event(e).unwrap();
    }
    let first = book_checksum(&book, dec.precision(eth));
    let (r, ev) = decode(&mut dec, EX_A_UPDATE);
    assert_eq!(
        r,
        Ok(Frame::BookDiff {
            instrument: eth,
            ids: DiffIds::default(),
            checksum: Some(3329440863)
        })
    );
    for e in &ev {
        book.apply_event(e).unwrap();
    }
    assert_eq!(book.ask_len(), 10, "truncated to the subscribed depth");
    (first, book_checksum(&book, dec.precision(eth)))
}

#[test]
fn worked_example_a_checksums_match_at_the_instrument_precision_and_from_the_wire_text() {
    // Precision from the `instrument` channel (price 2, qty 8).
    assert_eq!(run_example_a(false, Some((2, 8))), (2606672715, 3329440863));
    // No instrument channel: the precision the book learned from the numbers' text.
    assert_eq!(run_example_a(false, None), (2606672715, 3329440863));
}

#[test]
fn normalised_numbers_checksum_right_only_when_re_rendered_at_the_instrument_precision() {
    // `1797.3`, `10.824`: what a float or normalising parse would have kept (venues.md §4).
    assert_eq!(run_example_a(true, Some((2, 8))), (2606672715, 3329440863));
    // Learned from such text: still right here, as the finest value of each field shows
    // the full precision (`1797.25`, `139.09899871`)...
    assert_eq!(run_example_a(true, None), (2606672715, 3329440863));
    // ...but not when none does: then only the instrument precision gives the venue's
    // checksum; without it, a mismatch and a resync, never a silently wrong book.
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["ETH/USD"]);
    let eth = reg.lookup(VENUE, "ETH/USD").unwrap();
    let msg = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"ETH/USD","bids":[{"price":1797.2,"qty":0.5}],"asks":[{"price":1797.3,"qty":10.824}],"checksum":0}]}"#;
    let (_, ev) = decode(&mut dec, msg);
    let mut book = Book::new(BookConfig::with_depth(10));
    for e in &ev {
        book.apply_event(e).unwrap();
    }
    let venue = recipe(&[(179730, 1082400000)], &[(179720, 50000000)], 2, 8);
    assert_ne!(book_checksum(&book, dec.precision(eth)), venue);
    dec.set_precision(eth, 2, 8);
    assert_eq!(book_checksum(&book, dec.precision(eth)), venue);
}

#[test]
fn numbers_are_read_exactly_and_print_as_plain_decimals() {
    for (wire, plain) in [
        ("0.00005325", "0.00005325"),
        ("84205.0", "84205.0"),
        ("1e-8", "0.00000001"),
        ("5.325e-05", "0.00005325"),
        ("1E+2", "100"),
        ("0", "0"),
        ("1797.30", "1797.30"),
        ("0.00000000", "0.00000000"),
    ] {
        let v = kraken_decimal(wire.as_bytes()).unwrap();
        assert_eq!(text(v), plain, "{wire}");
    }
    for bad in ["-1", "01", "", ".5", "1.", "abc", "1e", "1e-30"] {
        assert_eq!(kraken_decimal(bad.as_bytes()), Err(Reason::Number), "{bad}");
    }
    // Through a frame: a level's qty in exponent form is exact.
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let msg = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":84205.0,"qty":5.325e-05}],"asks":[{"price":84205.1,"qty":1e-8}],"checksum":1,"timestamp":"2025-05-06T10:00:00Z"}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert!(r.is_ok());
    let l: Vec<_> = ev.iter().map(|e| e.as_level().unwrap()).collect();
    assert_eq!(text(l[0].price), "84205.0");
    assert_eq!(text(l[0].qty), "0.00005325");
    assert_eq!(text(l[1].qty), "0.00000001");
}

#[test]
fn several_changes_to_one_level_apply_in_order_and_deletes_come_first() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let msg = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":100.0,"qty":1.0},{"price":100.0,"qty":0},{"price":99.0,"qty":2.0},{"price":98.0,"qty":0}],"asks":[{"price":101.0,"qty":0},{"price":101.0,"qty":2.5},{"price":102.0,"qty":1.0}],"checksum":1}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert!(matches!(r, Ok(Frame::BookDiff { .. })), "{r:?}");
    let got: Vec<_> = ev
        .iter()
        .map(|e| {
            let l = e.as_level().unwrap();
            (l.side, text(l.price), text(l.qty))
        })
        .collect();
    let want = [
        (Side::Buy, "100.0", "0"),
        (Side::Buy, "98.0", "0"),
        (Side::Buy, "99.0", "2.0"),
        (Side::Sell, "101.0", "2.5"),
        (Side::Sell, "102.0", "1.0"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(s, p, q)| (*s, p.to_string(), q.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(ev.last().unwrap().flags, Flags::LAST_IN_BATCH);
    assert!(ev[..4].iter().all(|e| e.flags == Flags::EMPTY));
}

#[test]
fn trades_carry_the_aggressor_side_ids_and_time() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let btc = reg.lookup(VENUE, "BTC/USD").unwrap();
    let msg = r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":26800.1,"qty":0.01000000,"ord_type":"market","trade_id":74593467,"timestamp":"2023-09-25T09:04:31.742599Z"},{"timestamp":"2023-09-25T09:04:31.8Z","trade_id":74593468,"qty":2e-3,"price":26800.2,"side":"buy","ord_type":"limit","symbol":"BTC/USD"}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(r, Ok(Frame::Market));
    assert_eq!(ev.len(), 2);
    let t0 = ev[0].as_trade().unwrap();
    assert_eq!(ev[0].instrument, btc);
    assert_eq!(t0.side, Side::Sell);
    assert_eq!(text(t0.price), "26800.1");
    assert_eq!(text(t0.qty), "0.01000000");
    assert_eq!(ev[0].trade_id(), Some(TradeId::Number(74593467)));
    assert_eq!(ev[0].exchange_ts, 1_695_632_671_742_599_000);
    let t1 = ev[1].as_trade().unwrap();
    assert_eq!(t1.side, Side::Buy);
    assert_eq!(text(t1.qty), "0.002");
    assert_eq!(ev[1].exchange_ts, 1_695_632_671_800_000_000);
}

#[test]
fn a_ticker_is_a_bbo() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let msg = r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":26800.0,"bid_qty":0.5,"ask":26800.1,"ask_qty":1.25,"last":26800.1,"volume":1000.0,"vwap":26000.0,"low":25000.0,"high":27000.0,"change":10.0,"change_pct":0.04,"timestamp":"2023-09-25T09:04:31Z"}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(r, Ok(Frame::Market));
    assert_eq!(ev[0].kind(), EventKind::Bbo);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.bid_price, b.bid_qty, b.ask_price, b.ask_qty),
        (d("26800.0"), d("0.5"), d("26800.1"), d("1.25"))
    );
    // A ticker without a side is a schema error.
    let (r, _) = decode(
        &mut dec,
        r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1.0,"bid_qty":1.0}]}"#,
    );
    assert_eq!(r, Err(Reason::Schema));
}

#[test]
fn replies_heartbeats_and_unknown_messages() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let cases: [(&str, Frame); 8] = [
        (
            r#"{"method":"pong","req_id":42,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
            Frame::Pong,
        ),
        (r#"{"method":"pong"}"#, Frame::Pong),
        (
            r#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z","req_id":1}"#,
            Frame::Ack { id: 1 },
        ),
        (
            r#"{"error":"Currency pair not supported","method":"subscribe","req_id":7,"success":false,"symbol":"XBT/USDD","time_in":"x","time_out":"y"}"#,
            Frame::SubscriptionError {
                id: Some(7),
                code: 0,
            },
        ),
        (
            r#"{"Error":"Exceeded msg rate"}"#,
            Frame::SubscriptionError { id: None, code: -1 },
        ),
        (r#"{"channel":"heartbeat"}"#, Frame::Control),
        (
            r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":1,"system":"online","version":"2.0.0"}]}"#,
            Frame::Control,
        ),
        (
            r#"{"channel":"ohlc","type":"update","data":[]}"#,
            Frame::Unknown,
        ),
    ];
    for (msg, want) in cases {
        let (r, ev) = decode(&mut dec, msg);
        assert_eq!(r, Ok(want), "{msg}");
        assert!(ev.is_empty());
    }
}

#[test]
fn the_instrument_channel_gives_subscribed_pairs_their_precision() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let btc = reg.lookup(VENUE, "BTC/USD").unwrap();
    assert_eq!(dec.precision(btc), None);
    let msg = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled","precision":10}],"pairs":[{"symbol":"ETH/USD","base":"ETH","quote":"USD","price_precision":2,"qty_precision":8},{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"price_increment":0.1,"price_precision":1,"marginable":true}]}}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(r, Ok(Frame::Control));
    assert!(ev.is_empty());
    assert_eq!(dec.precision(btc), Some((1, 8)));
    // Pairs not subscribed are not interned.
    assert_eq!(reg.lookup(VENUE, "ETH/USD"), None);
}

#[test]
fn keys_in_any_order_and_data_before_channel() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["ETH/USD"]);
    let msg = r#"{"data":[{"checksum":3329440863,"asks":[{"qty":0.00000000,"price":1797.29},{"qty":1.56601318,"price":1797.52}],"bids":[],"timestamp":"2025-05-06T10:00:00.1Z","symbol":"ETH/USD"}],"type":"update","channel":"book"}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert!(
        matches!(
            r,
            Ok(Frame::BookDiff {
                checksum: Some(3329440863),
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].as_level().unwrap().price, d("1797.29"));
    assert_eq!(ev[0].exchange_ts, 1_746_525_600_100_000_000);
}

#[test]
fn malformed_frames_are_typed_errors_and_leave_no_events() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC/USD"]);
    let book = |body: &str| {
        format!(r#"{{"channel":"book","type":"update","data":[{{"symbol":"BTC/USD",{body}}}]}}"#)
    };
    let cases = [
        ("{", Reason::Json),
        ("", Reason::Json),
        (
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":1.0,"qty":1.0}]}]"#,
            Reason::Json,
        ),
        (
            &book(r#""bids":[{"price":-1.0,"qty":1.0}]"#),
            Reason::Number,
        ),
        (
            &book(r#""bids":[{"price":1.0,"qty":1e999}]"#),
            Reason::Number,
        ),
        (&book(r#""bids":[{"price":1.0}]"#), Reason::Schema),
        (&book(r#""bids":[{"price":true,"qty":1}]"#), Reason::Schema),
        (&book(r#""bids":[],"checksum":4294967296"#), Reason::Number),
        (
            &book(r#""bids":[],"timestamp":"yesterday""#),
            Reason::Schema,
        ),
        (
            r#"{"channel":"book","type":"update","data":[{"symbol":"XBT/EUR","bids":[]}]}"#,
            Reason::UnknownSymbol,
        ),
        (
            r#"{"channel":"book","type":"delta","data":[{"symbol":"BTC/USD","bids":[]}]}"#,
            Reason::Schema,
        ),
        (
            r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[]},{"symbol":"BTC/USD","bids":[]}]}"#,
            Reason::Schema,
        ),
        (
            r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"trade_id":1}]}"#,
            Reason::Schema,
        ),
        (r#"{"channel":"book","type":"update"}"#, Reason::Schema),
    ];
    for (msg, want) in cases {
        let (r, ev) = decode(&mut dec, msg);
        assert_eq!(r, Err(want), "{msg}");
        assert!(ev.is_empty(), "{msg}");
    }
    let s = dec.stats();
    assert_eq!(s.frames, cases.len() as u64);
    assert_eq!(
        s.json_errors + s.number_errors + s.schema_errors + s.unknown_symbols,
        cases.len() as u64
    );
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(
        parse_timestamp(b"2023-09-25T09:04:31.742599Z"),
        Some(1_695_632_671_742_599_000)
    );
    assert_eq!(parse_timestamp(b"1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_timestamp(b"1970-01-01T00:00:00.000000001Z"), Some(1));
    for bad in [
        &b"2023-13-25T09:04:31Z"[..],
        b"2023-09-25T09:04:31",
        b"2023-09-25T09:04:31.Z",
        b"2023-09-25T09:04:31.1234567890Z",
        b"1969-12-31T23:59:59Z",
        b"",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
}

// ---- adapter ----

fn adapter(subs: &[Subscription]) -> (KrakenAdapter, Registry) {
    let reg = Registry::new();
    (
        KrakenAdapter::new(KrakenConfig::default(), subs, &reg).unwrap(),
        reg,
    )
}

fn strings(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8(f.clone()).unwrap())
        .collect()
}

#[test]
fn connect_frames_request_each_channel_and_acks_count_one_answer_per_symbol() {
    let subs = Subscription::product(&["BTC/USD", "eth/usd"], &[Channel::Book, Channel::Trade]);
    let (mut a, _reg) = adapter(&subs);
    let mut out = Vec::new();
    a.connect_frames(&mut out);
    assert_eq!(
        strings(&out),
        [
            r#"{"method":"subscribe","params":{"channel":"instrument","snapshot":true},"req_id":1}"#,
            r#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD","ETH/USD"],"depth":10,"snapshot":true},"req_id":2}"#,
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":false},"req_id":3}"#,
        ]
    );
    assert_eq!(a.pending_acks(), 3);
    let ack = |id: u64, sym: &str| {
        format!(
            r#"{{"method":"subscribe","result":{{"channel":"book","symbol":"{sym}"}},"success":true,"req_id":{id}}}"#
        )
        .into_bytes()
    };
    let mut ev = Vec::new();
    assert_eq!(
        a.decode(&mut ack(2, "BTC/USD"), 0, &mut ev),
        Ok(Frame::Control)
    );
    assert_eq!(a.pending_acks(), 3);
    assert_eq!(
        a.decode(&mut ack(2, "ETH/USD"), 0, &mut ev),
        Ok(Frame::Ack { id: 2 })
    );
    assert_eq!(a.pending_acks(), 2);
    // An answer to nothing we asked.
    assert_eq!(a.decode(&mut ack(99, "X"), 0, &mut ev), Ok(Frame::Control));
    // A refused symbol is an error for its request.
    let mut err = br#"{"error":"Currency pair not supported","method":"subscribe","req_id":3,"success":false,"symbol":"BTC/USD"}"#.to_vec();
    assert_eq!(
        a.decode(&mut err, 0, &mut ev),
        Ok(Frame::SubscriptionError {
            id: Some(3),
            code: 0
        })
    );
    assert_eq!(a.expire_acks(), 2);
    assert_eq!(a.pending_acks(), 0);
}

#[test]
fn a_resubscribe_is_that_symbols_book_alone_and_topics_parse() {
    let subs = Subscription::product(&["BTC/USD", "ETH/USD"], &[Channel::Book, Channel::Ticker]);
    let (mut a, reg) = adapter(&subs);
    let eth = reg.lookup(VENUE, "ETH/USD").unwrap();
    let mut out = Vec::new();
    a.resubscribe(eth, &mut out);
    assert_eq!(
        strings(&out),
        [
            r#"{"method":"unsubscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":10},"req_id":1}"#,
            r#"{"method":"subscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":10,"snapshot":true},"req_id":2}"#,
        ]
    );
    assert_eq!(
        a.parse_topic("ticker:btc/usd"),
        Some(Subscription::new("BTC/USD", Channel::Ticker))
    );
    assert_eq!(a.parse_topic("ohlc:BTC/USD"), None);
    assert_eq!(a.parse_topic("book:BTC/USD\""), None);
    let mut out = Vec::new();
    a.subscribe(&[Subscription::new("SOL/EUR", Channel::Ticker)], &mut out);
    assert_eq!(
        strings(&out),
        [
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["SOL/EUR"],"event_trigger":"bbo"},"req_id":3}"#
        ]
    );
    assert!(reg.lookup(VENUE, "SOL/EUR").is_some());
    // Depths Kraken does not offer are refused.
    let config = KrakenConfig {
        book_depth: 20,
        ..KrakenConfig::default()
    };
    assert_eq!(
        KrakenAdapter::new(config, &subs, &reg).err(),
        Some(PlanError::InvalidDepth)
    );
    assert_eq!(a.books().len(), 2);
    assert_eq!(a.books()[0].config.depth, 10);
}

// ---- checksum and truncation, against independent models ----

/// The venues.md recipe, written from its text: render each value as a decimal string at
/// the precision (`{int}.{frac}`), delete the point, strip leading zeros; asks (ascending)
/// then bids (descending), top 10; CRC32 (flate2's, not the adapter's crc32fast).
fn recipe(asks: &[(u64, u64)], bids: &[(u64, u64)], pp: u32, qp: u32) -> u32 {
    fn render(units: u64, precision: u32) -> String {
        let f = 10u64.pow(precision);
        let s = if precision == 0 {
            format!("{units}")
        } else {
            format!(
                "{}.{:0width$}",
                units / f,
                units % f,
                width = precision as usize
            )
        };
        s.replace('.', "").trim_start_matches('0').to_owned()
    }
    let mut s = String::new();
    for (p, q) in asks.iter().take(10).chain(bids.iter().take(10)) {
        s.push_str(&render(*p, pp));
        s.push_str(&render(*q, qp));
    }
    let mut crc = flate2::Crc::new();
    crc.update(s.as_bytes());
    crc.sum()
}

/// A value of `units × 10^-precision` as JSON-number text, written the way a normalising
/// printer might (`trim`: trailing zeros dropped) or at full precision.
fn wire(units: u64, precision: u32, trim: bool) -> String {
    if precision == 0 {
        return units.to_string();
    }
    let f = 10u64.pow(precision);
    let mut s = format!(
        "{}.{:0width$}",
        units / f,
        units % f,
        width = precision as usize
    );
    if trim {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The adapter's checksum of a random book equals the recipe's, at every price and qty
    /// precision 0–10, whether the precision comes from the instrument channel (values
    /// written with trailing zeros dropped) or is learned from full-precision text.
    #[test]
    fn checksum_equals_an_independent_recipe_at_every_precision(
        pp in 0u32..=10,
        qp in 0u32..=10,
        mut prices in prop::collection::btree_set(1u64..2_000_000, 1..40),
        qtys in prop::collection::vec(1u64..5_000_000_000, 40),
        split in 0usize..40,
        trim in any::<bool>(),
    ) {
        let prices: Vec<u64> = std::mem::take(&mut prices).into_iter().collect();
        let split = split.min(prices.len());
        // Bids below asks: the lower prices are bids.
        let bids: Vec<(u64, u64)> = prices[..split].iter().rev().zip(&qtys).map(|(p, q)| (*p, *q)).collect();
        let asks: Vec<(u64, u64)> = prices[split..].iter().zip(qtys.iter().rev()).map(|(p, q)| (*p, *q)).collect();
        let reg = Registry::new();
        let mut dec = decoder(&reg, &["A/B"]);
        let id = reg.lookup(VENUE, "A/B").unwrap();
        if trim {
            dec.set_precision(id, pp as u8, qp as u8);
        }
        let side = |v: &[(u64, u64)]| v.iter().map(|(p, q)| format!(r#"{{"price":{},"qty":{}}}"#, wire(*p, pp, trim), wire(*q, qp, trim))).collect::<Vec<_>>().join(",");
        let msg = format!(r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"A/B","bids":[{}],"asks":[{}],"checksum":0}}]}}"#, side(&bids), side(&asks));
        let (r, ev) = decode(&mut dec, &msg);
        prop_assert!(r.is_ok(), "{:?}", r);
        let mut book = Book::new(BookConfig::with_depth(100));
        for e in &ev {
            book.apply_event(e).unwrap();
        }
        let ours = book_checksum(&book, dec.precision(id));
        prop_assert_eq!(ours, recipe(&asks, &bids, pp, qp));
    }

    /// Random update messages on a book bounded at the subscribed depth end equal to the
    /// model "apply every change in order to an unbounded book, then truncate each side to
    /// the depth" after every message (venues.md §4), and so do their checksums.
    #[test]
    fn updates_then_truncation_match_a_model(
        depth in prop::sample::select(vec![10usize, 25]),
        msgs in prop::collection::vec(
            prop::collection::vec((any::<bool>(), 900u64..1100, 0u64..4), 1..12),
            1..60,
        ),
    ) {
        let reg = Registry::new();
        let mut dec = decoder(&reg, &["A/B"]);
        let id = reg.lookup(VENUE, "A/B").unwrap();
        dec.set_precision(id, 1, 2);
        let mut book = Book::new(BookConfig::with_depth(depth));
        // Model: bids below 1000.0, asks from 1000.0 (prices in tenths).
        let mut bids: BTreeMap<u64, u64> = BTreeMap::new();
        let mut asks: BTreeMap<u64, u64> = BTreeMap::new();
        let snap_bids: Vec<(u64, u64)> = (0..depth as u64).map(|i| (9_990 - i * 2, 100 + i)).collect();
        let snap_asks: Vec<(u64, u64)> = (0..depth as u64).map(|i| (10_000 + i * 2, 200 + i)).collect();
        bids.extend(snap_bids.iter().copied());
        asks.extend(snap_asks.iter().copied());
        let lv = |v: &[(u64, u64)]| v.iter().map(|(p, q)| format!(r#"{{"price":{},"qty":{}}}"#, wire(*p, 1, false), wire(*q, 2, false))).collect::<Vec<_>>().join(",");
        let msg = format!(r#"{{"channel":"book","type":"snapshot","data":[{{"symbol":"A/B","bids":[{}],"asks":[{}],"checksum":0}}]}}"#, lv(&snap_bids), lv(&snap_asks));
        let (_, ev) = decode(&mut dec, &msg);
        for e in &ev {
            book.apply_event(e).unwrap();
        }
        for m in msgs {
            let (mut mb, mut ma) = (Vec::new(), Vec::new());
            for (bid, off, q) in m {
                // Bids 9,900..9,999 tenths, asks 10,000..10,199: never crossed.
                let (p, side, list) = if bid {
                    (9_999 - (off - 900) , &mut bids, &mut mb)
                } else {
                    (10_000 + (off - 900), &mut asks, &mut ma)
                };
                let qty = q * 25;
                if qty == 0 { side.remove(&p); } else { side.insert(p, qty); }
                list.push((p, qty));
            }
            while bids.len() > depth { let k = *bids.keys().next().unwrap(); bids.remove(&k); }
            while asks.len() > depth { let k = *asks.keys().next_back().unwrap(); asks.remove(&k); }
            let msg = format!(r#"{{"channel":"book","type":"update","data":[{{"symbol":"A/B","bids":[{}],"asks":[{}],"checksum":0}}]}}"#, lv(&mb), lv(&ma));
            let (r, ev) = decode(&mut dec, &msg);
            prop_assert!(r.is_ok());
            for e in &ev {
                book.apply_event(e).unwrap();
            }
            let mb: Vec<(u64, u64)> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
            let ma: Vec<(u64, u64)> = asks.iter().map(|(p, q)| (*p, *q)).collect();
            let ours: Vec<(u64, u64)> = book.bids(usize::MAX).map(|(p, q)| (p.mantissa_at(1).unwrap() as u64, q.mantissa_at(2).unwrap() as u64)).collect();
            prop_assert_eq!(&ours, &mb);
            let ours: Vec<(u64, u64)> = book.asks(usize::MAX).map(|(p, q)| (p.mantissa_at(1).unwrap() as u64, q.mantissa_at(2).unwrap() as u64)).collect();
            prop_assert_eq!(&ours, &ma);
            prop_assert_eq!(book_checksum(&book, dec.precision(id)), recipe(&ma, &mb, 1, 2));
        }
    }
}
