//! OKX decode tests on the documented messages (venues.md §6, §12) and edge cases, the
//! checksum vectors, the sequence rules as a table, and the adapter through `FeedHandler`
//! without a network: in-band start, keep-alive, reset, a snapshot mid-stream, a gap
//! resynced by resubscribing, a checksum mismatch, the REST start, a pong that never comes.

use tickwire_engine::adapter::{
    BookSnapshot, DiffIds, FeedConfig, FeedHandler, Frame, QueuedSnapshots, SeqCheck,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, Side, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, Event, FeedAdapter, InstrumentId, Reason, Registry, TradeId};

use super::checksum::{book_checksum, checksum_of};
use super::*;
use crate::binance::Symbols;

fn d(s: &str) -> Decimal {
    Decimal::parse(s.as_bytes()).unwrap()
}

fn decoder(registry: &Registry, symbols: &[&str]) -> Decoder {
    let mut s = Symbols::new(VENUE);
    for sym in symbols {
        s.add(registry, sym);
    }
    Decoder::new(s)
}

fn decode(dec: &mut Decoder, text: &str) -> (Result<Frame, Reason>, Vec<Event>) {
    let mut out = Vec::new();
    let r = dec
        .decode(text.as_bytes(), 7, &mut out)
        .map_err(|e| e.reason);
    (r, out)
}

/// (side, price, qty, seq, flags) of book events.
fn levels(ev: &[Event]) -> Vec<(Side, Decimal, Decimal, u64, u8)> {
    ev.iter()
        .map(|e| {
            let l = e.as_level().unwrap();
            (l.side, l.price, l.qty, l.seq, e.flags.0)
        })
        .collect()
}

const LAST: u8 = Flags::LAST_IN_BATCH.0;

// ---- decode ----

#[test]
fn a_books_snapshot_decodes_to_its_levels_in_wire_order() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let btc = reg.lookup(VENUE, "BTC-USDT").unwrap();
    let msg = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(
        r,
        Ok(Frame::BookSnapshot {
            instrument: btc,
            ids: DiffIds {
                first: 123456,
                last: 123456,
                prev: None
            },
            checksum: Some(-855196043i32 as u32),
        })
    );
    assert_eq!(
        levels(&ev),
        vec![
            (Side::Sell, d("8476.98"), d("415"), 123456, 0),
            (Side::Sell, d("8477"), d("7"), 123456, 0),
            (Side::Buy, d("8476.97"), d("256"), 123456, LAST),
        ]
    );
    assert!(
        ev.iter()
            .all(|e| e.exchange_ts == 1_597_026_383_085_000_000)
    );
    assert!(ev.iter().all(|e| e.recv_ts == 7 && e.instrument == btc));
}

#[test]
fn the_captured_2022_update_decodes_without_sequence_ids() {
    // cryptofeed OKX.ws.1.0 (venues.md §6): before seqId existed.
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USD-220527"]);
    let i = reg.lookup(VENUE, "BTC-USD-220527").unwrap();
    let msg = r#"{"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["30249.4","0","0","0"],["30261","4","0","1"],["30310.3","19","0","1"]],"bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(
        r,
        Ok(Frame::BookDiff {
            instrument: i,
            ids: DiffIds::default(),
            checksum: Some(-914047754i32 as u32),
        })
    );
    assert_eq!(
        levels(&ev),
        vec![
            (Side::Sell, d("30249.4"), d("0"), 0, 0),
            (Side::Sell, d("30261"), d("4"), 0, 0),
            (Side::Sell, d("30310.3"), d("19"), 0, 0),
            (Side::Buy, d("30182.6"), d("452"), 0, LAST),
        ]
    );
}

#[test]
fn key_order_and_whitespace_do_not_matter() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let a = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["2","1","0","1"]],"bids":[["1","3","0","1"]],"ts":"5","checksum":0,"prevSeqId":10,"seqId":11}]}"#;
    let b = r#" { "data" : [ { "seqId" : 11 , "bids" : [ [ "1" , "3" , "0" , "1" ] ] , "prevSeqId" : 10, "checksum": 0, "ts" : "5" , "asks" : [ [ "2" , "1" , "0" , "1" ] ] } ] ,
        "action" : "update" , "arg" : { "instId" : "BTC-USDT" , "channel" : "books" } } "#;
    let (ra, ea) = decode(&mut dec, a);
    let (rb, eb) = decode(&mut dec, b);
    assert_eq!(ra, rb);
    // Wire order of the sides differs; the set of levels and the last flag's place do not.
    let mut la = levels(&ea);
    let mut lb = levels(&eb);
    assert_eq!(la.last().map(|l| l.4), Some(LAST));
    assert_eq!(lb.last().map(|l| l.4), Some(LAST));
    for l in la.iter_mut().chain(lb.iter_mut()) {
        l.4 = 0;
    }
    la.sort_by_key(|l| l.1);
    lb.sort_by_key(|l| l.1);
    assert_eq!(la, lb);
    // checksum 0: none (OKX since 2026-06).
    assert!(matches!(ra, Ok(Frame::BookDiff { checksum: None, .. })));
}

#[test]
fn a_keep_alive_is_an_empty_diff_and_prev_zero_is_not_a_snapshot() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let i = reg.lookup(VENUE, "BTC-USDT").unwrap();
    let keep = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":5,"seqId":5}]}"#;
    let (r, ev) = decode(&mut dec, keep);
    assert!(ev.is_empty());
    assert_eq!(
        r,
        Ok(Frame::BookDiff {
            instrument: i,
            ids: DiffIds {
                first: 5,
                last: 5,
                prev: Some(5)
            },
            checksum: None
        })
    );
    let zero = keep.replace("\"prevSeqId\":5,\"seqId\":5", "\"prevSeqId\":0,\"seqId\":1");
    let (r, _) = decode(&mut dec, &zero);
    assert!(matches!(
        r,
        Ok(Frame::BookDiff {
            ids: DiffIds { prev: Some(0), .. },
            ..
        })
    ));
    // -1 belongs to snapshots: an update with it is malformed.
    let minus = keep.replace("\"prevSeqId\":5", "\"prevSeqId\":-1");
    assert_eq!(decode(&mut dec, &minus).0, Err(Reason::Schema));
}

#[test]
fn documented_trades_decode_with_the_taker_side_and_numeric_ids() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let i = reg.lookup(VENUE, "BTC-USDT").unwrap();
    let msg = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3"}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(r, Ok(Frame::Market));
    assert_eq!(ev.len(), 1);
    let t = ev[0].as_trade().unwrap();
    assert_eq!(
        (t.side, t.price, t.qty, t.id),
        (Side::Buy, d("42219.9"), d("0.12060306"), 130639474)
    );
    assert_eq!(ev[0].trade_id(), Some(TradeId::Number(130639474)));
    assert_eq!(ev[0].exchange_ts, 1_630_048_897_897_000_000);
    assert_eq!(ev[0].instrument, i);
    assert!(ev[0].flags.contains(Flags::AGGREGATED), "count 3");
    // Two trades in one message, a sell, a text id, count 1.
    let two = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"1","sz":"2","side":"sell","ts":"1","count":"1"},{"instId":"BTC-USDT","tradeId":"x-9","px":"1.5","sz":"2","side":"buy","ts":"2","count":"1"}]}"#;
    let (r, ev) = decode(&mut dec, two);
    assert_eq!(r, Ok(Frame::Market));
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].as_trade().unwrap().side, Side::Sell);
    assert!(!ev[0].flags.contains(Flags::AGGREGATED));
    assert_eq!(ev[1].trade_id(), TradeId::parse(b"x-9"));
    assert!(matches!(ev[1].trade_id(), Some(TradeId::Hash(_))));
}

#[test]
fn bbo_tbt_is_a_bbo_event_with_its_seq_id() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BCH-USDT-SWAP"]);
    let msg = r#"{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"#;
    let (r, ev) = decode(&mut dec, msg);
    assert_eq!(r, Ok(Frame::Market));
    assert_eq!(ev.len(), 1);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.bid_price, b.bid_qty, b.ask_price, b.ask_qty, b.seq),
        (d("111.05"), d("57745"), d("111.06"), d("55154"), 363996337)
    );
    assert_eq!(ev[0].exchange_ts, 1_670_324_386_802_000_000);
}

#[test]
fn control_messages_give_no_market_events() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    for (msg, want) in [
        ("pong", Frame::Pong),
        (
            r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#,
            Frame::Ack { id: 0 },
        ),
        (
            r#"{"event":"error","code":"60012","msg":"Invalid request: ...","connId":"a4d3ae55"}"#,
            Frame::SubscriptionError {
                id: None,
                code: 60012,
            },
        ),
        (
            r#"{"event":"notice","code":"64008","msg":"The connection will soon be closed"}"#,
            Frame::Control,
        ),
        (
            r#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"last":"1"}]}"#,
            Frame::Unknown,
        ),
        ("{}", Frame::Unknown),
    ] {
        let (r, ev) = decode(&mut dec, msg);
        assert_eq!(r, Ok(want), "{msg}");
        assert!(ev.is_empty(), "{msg}");
    }
    let s = dec.stats();
    assert_eq!(s.unknown_messages, 2);
}

#[test]
fn malformed_messages_are_typed_errors_and_leave_no_events() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let good = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["2","1","0","1"]],"bids":[["1","3","0","1"]],"ts":"5","checksum":7,"prevSeqId":10,"seqId":11}]}"#;
    assert!(decode(&mut dec, good).0.is_ok());
    let cases: Vec<(String, Reason)> = vec![
        (good[..good.len() - 3].to_string(), Reason::Json),
        (format!("{good}x"), Reason::Json),
        ("[1,2]".into(), Reason::Json),
        ("ping".into(), Reason::Json),
        (good.replace("\"2\",\"1\"", "\"1e5\",\"1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\"-2\",\"1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\"2\",\"-1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\"2.\",\"1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\".5\",\"1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\"02\",\"1\""), Reason::Number),
        (good.replace("\"2\",\"1\"", "\"2\",\"00.5\""), Reason::Number),
        (
            good.replace("\"2\",\"1\"", "\"99999999999999999999999\",\"1\""),
            Reason::Number,
        ),
        (
            good.replace("\"2\",\"1\"", "\"0.0000000000000000001\",\"1\""),
            Reason::Number,
        ),
        (good.replace("\"2\",\"1\"", "2,\"1\""), Reason::Schema),
        (good.replace("\"ts\":\"5\"", "\"ts\":\"5x\""), Reason::Number),
        (
            good.replace("\"checksum\":7", "\"checksum\":4294967296"),
            Reason::Number,
        ),
        (good.replace("\"seqId\":11", "\"seqId\":-11"), Reason::Number),
        (good.replace(",\"seqId\":11", ""), Reason::Schema),
        (good.replace("\"action\":\"update\",", ""), Reason::Schema),
        (good.replace("\"update\"", "\"delta\""), Reason::Schema),
        (good.replace("\"asks\":[[\"2\",\"1\",\"0\",\"1\"]],", ""), Reason::Schema),
        (good.replace("BTC-USDT", "ETH-USDT"), Reason::UnknownSymbol),
        (
            good.replace("\"data\":[{", "\"data\":[{},{"),
            Reason::Schema,
        ),
        (
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"1","sz":"2","side":"up","ts":"1"}]}"#.into(),
            Reason::Schema,
        ),
        (
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","px":"1","sz":"2","side":"buy","ts":"1"}]}"#.into(),
            Reason::Schema,
        ),
        (format!("{}{}", "[".repeat(100), "]".repeat(100)), Reason::Json),
        (
            format!(r#"{{"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100)),
            Reason::Json,
        ),
    ];
    for (msg, want) in cases {
        let mut out = vec![Event::status(
            InstrumentId::NONE,
            tickwire_engine::event::Status {
                kind: StatusKind::Connected,
                reason: 0,
                connection: 0,
                value: 0,
            },
            0,
        )];
        let r = dec.decode(msg.as_bytes(), 1, &mut out);
        assert_eq!(r.map_err(|e| e.reason), Err(want), "{msg}");
        assert_eq!(out.len(), 1, "events left behind: {msg}");
    }
    // The stream goes on.
    assert!(decode(&mut dec, good).0.is_ok());
}

#[test]
fn a_rest_books_answer_parses_with_its_seq_id() {
    let body = br#"{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"]],"bids":[["41006.3","0.30178218","0","2"],["41006","1","0","1"]],"ts":"1629966436396","seqId":3040}]}"#;
    let snap = parse_books_snapshot(body, InstrumentId(3)).unwrap();
    assert_eq!(snap.last_id, 3040);
    assert_eq!(snap.exchange_ts, 1_629_966_436_396_000_000);
    assert_eq!(snap.asks, vec![(d("41006.8"), d("0.60038921"))]);
    assert_eq!(
        snap.bids,
        vec![(d("41006.3"), d("0.30178218")), (d("41006"), d("1"))]
    );
    let err = br#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#;
    assert_eq!(
        parse_books_snapshot(err, InstrumentId(3)),
        Err(Reason::Schema)
    );
    assert!(parse_books_snapshot(b"{", InstrumentId(3)).is_err());
}

// ---- checksum ----

fn side(levels: &[(&str, &str)]) -> Vec<(Decimal, Decimal)> {
    levels.iter().map(|(p, q)| (d(p), d(q))).collect()
}

#[test]
fn checksum_matches_the_documented_vectors() {
    // venues.md §6 (OKEx docs, recomputed there).
    let bids = side(&[("3366.1", "7"), ("3366", "6")]);
    let asks = side(&[("3366.8", "9"), ("3368", "8")]);
    assert_eq!(checksum_of(bids.into_iter(), asks.into_iter()), -1881014294);
    let bids = side(&[("3366.1", "7")]);
    let asks = side(&[("3366.8", "9"), ("3368", "8"), ("3372", "8")]);
    assert_eq!(checksum_of(bids.into_iter(), asks.into_iter()), 831078360);
}

#[test]
fn checksum_of_a_book_renders_values_without_trailing_zeros() {
    // The book learns scale 2 from "3366.10": rendered "3366.1" and "3366" as OKX writes them.
    let mut book = Book::new(BookConfig::with_depth(400));
    for (s, p, q) in [
        (Side::Buy, "3366.10", "7.00"),
        (Side::Buy, "3366", "6"),
        (Side::Sell, "3366.8", "9"),
        (Side::Sell, "3368.00", "8"),
    ] {
        book.apply(s, d(p), d(q)).unwrap();
    }
    assert_eq!(book_checksum(&book), -1881014294);
}

#[test]
fn checksum_takes_25_levels_a_side() {
    // An independent model: strings joined by hand, CRC32 over the text.
    let mut book = Book::new(BookConfig::with_depth(400));
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for i in 0..40u32 {
        let (bp, ap) = (format!("{}.5", 1000 - i), format!("{}.25", 1001 + i));
        let q = format!("{}", i + 1);
        book.apply(Side::Buy, d(&bp), d(&q)).unwrap();
        book.apply(Side::Sell, d(&ap), d(&q)).unwrap();
        bids.push((bp, q.clone()));
        asks.push((ap, q));
    }
    let mut parts = Vec::new();
    for i in 0..25 {
        parts.extend([
            bids[i].0.clone(),
            bids[i].1.clone(),
            asks[i].0.clone(),
            asks[i].1.clone(),
        ]);
    }
    let want = crc32fast::hash(parts.join(":").as_bytes()) as i32;
    assert_eq!(book_checksum(&book), want);
}

// ---- sequence rules ----

fn ids(prev: Option<u64>, seq: u64) -> DiffIds {
    DiffIds {
        first: seq,
        last: seq,
        prev,
    }
}

fn adapter(subs: &[Subscription]) -> (OkxAdapter, Registry) {
    let reg = Registry::new();
    let a = OkxAdapter::new(OkxConfig::default(), subs, &reg).unwrap();
    (a, reg)
}

#[test]
fn sequence_rules_follow_the_documented_procedure() {
    let (a, _) = adapter(&[Subscription::new("BTC-USDT", Channel::Books)]);
    // REST start (venues.md §12): drop seqId <= snapshot; first has prevSeqId <= snap < seqId.
    let snap = 100;
    for (d, want) in [
        (ids(Some(98), 99), SeqCheck::Stale),
        (ids(Some(99), 100), SeqCheck::Stale),
        (ids(Some(100), 100), SeqCheck::Stale), // keep-alive at the snapshot
        (ids(Some(100), 101), SeqCheck::Apply),
        (ids(Some(97), 104), SeqCheck::Apply), // straddles the snapshot
        (ids(Some(101), 102), SeqCheck::Gap),  // snapshot too old: fetch again
        (ids(None, 105), SeqCheck::Gap),
    ] {
        assert_eq!(a.first_diff(snap, &d), want, "{d:?}");
    }
    // Chain: prevSeqId == last seqId, nothing else.
    let last = ids(Some(99), 100);
    for (d, want) in [
        (ids(Some(100), 101), SeqCheck::Apply),
        (ids(Some(100), 100), SeqCheck::Apply), // keep-alive
        (ids(Some(100), 3), SeqCheck::Apply),   // reset after maintenance
        (ids(Some(99), 100), SeqCheck::Gap),    // a repeat
        (ids(Some(101), 102), SeqCheck::Gap),   // one missing
        (ids(Some(99), 3), SeqCheck::Gap),
        (ids(None, 101), SeqCheck::Gap),
        (ids(None, 0), SeqCheck::Gap),
    ] {
        assert_eq!(a.next_diff(&last, &d), want, "{d:?}");
    }
    // After a snapshot with seqId 0, prevSeqId 0 chains on (-1 is not 0).
    assert_eq!(
        a.next_diff(&ids(None, 0), &ids(Some(0), 1)),
        SeqCheck::Apply
    );
    // A capture without seqIds chains on its checksums alone.
    assert_eq!(
        a.next_diff(&DiffIds::default(), &DiffIds::default()),
        SeqCheck::Apply
    );
    // Joining a second connection: older diffs skipped, the one that chains on applied.
    assert_eq!(a.join_diff(&last, &ids(Some(98), 99)), SeqCheck::Stale);
    assert_eq!(a.join_diff(&last, &ids(Some(100), 101)), SeqCheck::Apply);
    assert_eq!(a.join_diff(&last, &ids(Some(101), 102)), SeqCheck::Gap);
}

// ---- adapter: frames and acks ----

#[test]
fn subscribe_frames_and_acks_matched_by_arg() {
    let subs = Subscription::product(
        &["BTC-USDT", "ETH-USDT"],
        &[Channel::Books, Channel::Trades],
    );
    let (mut a, _) = adapter(&subs);
    let mut out = Vec::new();
    a.connect_frames(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        String::from_utf8(out[0].clone()).unwrap(),
        r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"},{"channel":"books","instId":"ETH-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}"#
    );
    assert_eq!(a.pending_acks(), 4);
    let mut ev = Vec::new();
    let mut ack =
        br#"{"event":"subscribe","arg":{"channel":"trades","instId":"ETH-USDT"},"connId":"1"}"#
            .to_vec();
    assert_eq!(a.decode(&mut ack, 1, &mut ev), Ok(Frame::Ack { id: 1 }));
    assert_eq!(a.pending_acks(), 3);
    // The same ack again answers nothing.
    let mut ack =
        br#"{"event":"subscribe","arg":{"channel":"trades","instId":"ETH-USDT"}}"#.to_vec();
    assert_eq!(a.decode(&mut ack, 1, &mut ev), Ok(Frame::Control));
    // An error without arg answers the oldest request.
    let mut err = br#"{"event":"error","code":"60012","msg":"Invalid request"}"#.to_vec();
    assert_eq!(
        a.decode(&mut err, 1, &mut ev),
        Ok(Frame::SubscriptionError {
            id: Some(1),
            code: 60012
        })
    );
    assert_eq!(a.pending_acks(), 2);
    // Resubscribe: unsubscribe then subscribe of that book alone, both tracked.
    let btc = a.instrument("btc-usdt").unwrap();
    let mut frames = Vec::new();
    a.resubscribe(btc, &mut frames);
    let texts: Vec<String> = frames
        .into_iter()
        .map(|f| String::from_utf8(f).unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![
            r#"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
        ]
    );
    assert_eq!(a.pending_acks(), 4);
    let mut unsub =
        br#"{"event":"unsubscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#.to_vec();
    assert_eq!(a.decode(&mut unsub, 1, &mut ev), Ok(Frame::Ack { id: 2 }));
    assert!(ev.is_empty());
    // Topics.
    assert_eq!(
        a.parse_topic("bbo-tbt:sol-usdt"),
        Some(Subscription::new("SOL-USDT", Channel::BboTbt))
    );
    assert_eq!(a.parse_topic("books5:BTC-USDT"), None);
    assert_eq!(a.parse_topic("books:BTC\"USDT"), None);
    // Pacing: OKX's 480 requests an hour per connection.
    let budget = a.pacing().budget.unwrap();
    assert_eq!(
        (budget.requests, budget.window_ns),
        (480, 3_600_000_000_000)
    );
}

#[test]
fn connections_are_planned_and_paced_three_a_second() {
    let subs = Subscription::product(&["A-B", "C-D", "E-F"], &[Channel::Books, Channel::Trades]);
    let groups = plan_connections(&subs, 3);
    // An instrument's channels stay together.
    assert_eq!(groups.len(), 3);
    assert!(groups.iter().all(|g| g.len() == 2));
    let delays = feed::connect_delays(7);
    let secs: Vec<u64> = delays.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, vec![0, 0, 0, 1, 1, 1, 2]);
}

// ---- through the FeedHandler ----

struct Rig {
    handler: FeedHandler<OkxAdapter>,
    feeder: QueuedSnapshots,
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    consumer: Consumer,
    btc: InstrumentId,
}

impl Rig {
    fn new() -> Rig {
        let registry = Registry::new();
        let subs = [
            Subscription::new("BTC-USDT", Channel::Books),
            Subscription::new("BTC-USDT", Channel::Trades),
        ];
        let adapter = OkxAdapter::new(OkxConfig::default(), &subs, &registry).unwrap();
        let btc = registry.lookup(VENUE, "BTC-USDT").unwrap();
        let snaps = QueuedSnapshots::new();
        let feeder = snaps.feeder();
        let handler = FeedHandler::new(adapter, Box::new(snaps), FeedConfig::default());
        let (p, c) = channel(1 << 12);
        let mut r = Rig {
            handler,
            feeder,
            outbox: Outbox::new(1 << 20),
            publisher: Publisher::new(vec![p]),
            actions: Actions::default(),
            consumer: c,
            btc,
        };
        r.connect();
        r
    }

    fn connect(&mut self) {
        let mut cx = Context::new(
            0,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        self.handler.on_connect(&mut cx);
    }

    fn message(&mut self, now_ms: u64, text: &str) -> Vec<Event> {
        let mut buf = text.as_bytes().to_vec();
        let mut cx = Context::new(
            now_ms * 1_000_000,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        self.handler.on_message(Message::Text(&mut buf), &mut cx);
        self.handler.on_poll(&mut cx);
        std::iter::from_fn(|| self.consumer.pop()).collect()
    }

    fn timer(&mut self, now_ms: u64) -> Vec<Event> {
        let mut cx = Context::new(
            now_ms * 1_000_000,
            ConnectionId(1),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        );
        self.handler.on_timer(&mut cx);
        self.handler.on_poll(&mut cx);
        std::iter::from_fn(|| self.consumer.pop()).collect()
    }

    /// Text payloads of the client frames queued since the last call (unmasked).
    fn take_sent(&mut self) -> Vec<String> {
        let b = self.outbox.bytes().to_vec();
        let mut i = 0;
        let mut v = Vec::new();
        while i < b.len() {
            let mut len = (b[i + 1] & 0x7f) as usize;
            let mut at = i + 2;
            if len == 126 {
                len = u16::from_be_bytes([b[at], b[at + 1]]) as usize;
                at += 2;
            }
            let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            let p: Vec<u8> = b[at..at + len]
                .iter()
                .enumerate()
                .map(|(j, x)| x ^ mask[j & 3])
                .collect();
            v.push(String::from_utf8(p).unwrap());
            i = at + len;
        }
        self.outbox = Outbox::new(1 << 20);
        v
    }
}

fn book_msg(
    action: &str,
    prev: i64,
    seq: u64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
    checksum: i32,
) -> String {
    let side = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, q)| format!(r#"["{p}","{q}","0","1"]"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"{action}","data":[{{"asks":[{}],"bids":[{}],"ts":"1","checksum":{checksum},"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
        side(asks),
        side(bids)
    )
}

fn status_kinds(ev: &[Event]) -> Vec<(StatusKind, Option<Reason>)> {
    ev.iter()
        .filter_map(|e| e.as_status())
        .map(|s| (s.kind, Reason::from_code(s.reason)))
        .collect()
}

#[test]
fn in_band_start_keep_alive_reset_and_a_snapshot_mid_stream() {
    let mut r = Rig::new();
    let sent = r.take_sent();
    assert_eq!(
        sent,
        vec![
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"}]}"#
        ]
    );
    let ev = r.message(
        1,
        &book_msg("snapshot", -1, 10, &[("99", "1")], &[("101", "2")], 0),
    );
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.flags.contains(Flags::SNAPSHOT)));
    assert!(ev[0].flags.contains(Flags::RUN_START));
    assert!(ev[1].flags.contains(Flags::LAST_IN_BATCH));
    assert!(r.handler.in_sync(r.btc));
    let ev = r.message(2, &book_msg("update", 10, 11, &[("99", "3")], &[], 0));
    assert_eq!(ev.len(), 1);
    // Keep-alive: no event, chain continues.
    let ev = r.message(3, &book_msg("update", 11, 11, &[], &[], 0));
    assert!(ev.is_empty());
    // Reset after maintenance: seqId below prevSeqId, applied.
    let ev = r.message(4, &book_msg("update", 11, 2, &[("98", "1")], &[], 0));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].as_level().unwrap().seq, 2);
    let ev = r.message(5, &book_msg("update", 2, 3, &[], &[("102", "1")], 0));
    assert_eq!(ev.len(), 1);
    // A snapshot mid-stream replaces the book.
    let ev = r.message(
        6,
        &book_msg("snapshot", -1, 50, &[("90", "1")], &[("110", "1")], 0),
    );
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.flags.contains(Flags::SNAPSHOT)));
    let book = r.handler.book(r.btc).unwrap();
    assert_eq!(book.best_bid(), Some((d("90"), d("1"))));
    assert_eq!(book.bid_len() + book.ask_len(), 2);
    let ev = r.message(7, &book_msg("update", 50, 51, &[("91", "1")], &[], 0));
    assert_eq!(ev.len(), 1);
    assert_eq!(status_kinds(&ev), vec![]);
    let stats = r.handler.stats();
    assert_eq!((stats.gaps, stats.resyncs, stats.resubscribes), (0, 0, 0));
    assert!(r.take_sent().is_empty());
}

#[test]
fn a_gap_resubscribes_that_book_once_and_the_new_snapshot_recovers_it() {
    let mut r = Rig::new();
    r.take_sent();
    r.message(
        1_000,
        &book_msg("snapshot", -1, 10, &[("99", "1")], &[("101", "2")], 0),
    );
    let ev = r.message(2_000, &book_msg("update", 12, 13, &[("99", "3")], &[], 0));
    let kinds = status_kinds(&ev);
    assert!(
        kinds.contains(&(StatusKind::Gap, Some(Reason::None))),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k.0 == StatusKind::Resync));
    // The subscribe follows the unsubscribe after the pacing gap.
    r.timer(2_150);
    let sent = r.take_sent();
    assert_eq!(
        sent,
        vec![
            r#"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
        ]
    );
    // More updates on the old chain: buffered, no second resubscribe.
    r.message(2_200, &book_msg("update", 13, 14, &[("98", "3")], &[], 0));
    r.timer(2_250);
    assert!(r.take_sent().is_empty());
    let ev = r.message(
        2_300,
        &book_msg("snapshot", -1, 20, &[("97", "1")], &[("103", "2")], 0),
    );
    assert_eq!(
        ev.iter()
            .filter(|e| e.flags.contains(Flags::SNAPSHOT))
            .count(),
        2
    );
    assert!(r.handler.in_sync(r.btc));
    let stats = r.handler.stats();
    assert_eq!((stats.gaps, stats.resyncs, stats.resubscribes), (1, 1, 1));
}

#[test]
fn a_checksum_mismatch_reports_checksum_and_resyncs() {
    let mut r = Rig::new();
    r.take_sent();
    // Checksums computed from OKX's strings (independent of the book's rendering).
    let crc = |parts: &[&str]| crc32fast::hash(parts.join(":").as_bytes()) as i32;
    let c0 = crc(&["99", "1", "101", "2"]);
    let ev = r.message(
        1_000,
        &book_msg("snapshot", -1, 10, &[("99", "1")], &[("101", "2")], c0),
    );
    assert_eq!(ev.len(), 2);
    let c1 = crc(&["99.5", "1", "101", "2", "99", "1"]);
    let ev = r.message(
        1_100,
        &book_msg("update", 10, 11, &[("99.5", "1")], &[], c1),
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(r.handler.stats().checksums_checked, 2);
    // A wrong checksum on the next update.
    let ev = r.message(
        2_000,
        &book_msg("update", 11, 12, &[("99.5", "2")], &[], c1),
    );
    let kinds = status_kinds(&ev);
    assert!(
        kinds.contains(&(StatusKind::Checksum, Some(Reason::Checksum))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(StatusKind::Resync, Some(Reason::Checksum))),
        "{kinds:?}"
    );
    assert!(!ev.iter().any(|e| e.kind() == EventKind::BookLevel));
    assert!(!r.handler.in_sync(r.btc));
    assert_eq!(r.handler.stats().checksum_failures, 1);
    r.timer(2_150);
    let sent = r.take_sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].contains("unsubscribe"));
}

#[test]
fn without_an_in_band_snapshot_the_rest_start_syncs_the_book() {
    let mut r = Rig::new();
    r.take_sent();
    // Updates only (OKX without the WS snapshot); the grace passes.
    r.message(100, &book_msg("update", 40, 41, &[("99", "1")], &[], 0));
    r.message(200, &book_msg("update", 41, 42, &[("98", "1")], &[], 0));
    assert_eq!(r.feeder.requests(), 0, "REST waits for the in-band grace");
    r.timer(3_200);
    assert_eq!(r.feeder.requests(), 1);
    // A snapshot older than the first buffered update's prevSeqId: fetched again.
    r.feeder.push(BookSnapshot {
        instrument: r.btc,
        last_id: 39,
        exchange_ts: 0,
        bids: vec![(d("97"), d("1"))],
        asks: vec![(d("101"), d("1"))],
    });
    let ev = r.timer(3_300);
    assert!(
        status_kinds(&ev).contains(&(StatusKind::SnapshotFailed, Some(Reason::SnapshotTooOld))),
        "{:?}",
        status_kinds(&ev)
    );
    r.message(3_400, &book_msg("update", 42, 43, &[("96", "1")], &[], 0));
    // seqId 41 snapshot: the update with seqId 41 is dropped, 42 (prev 41) applies.
    r.feeder.push(BookSnapshot {
        instrument: r.btc,
        last_id: 41,
        exchange_ts: 0,
        bids: vec![(d("99"), d("1")), (d("97"), d("1"))],
        asks: vec![(d("101"), d("1"))],
    });
    let mut ev = Vec::new();
    for t in (3_500..30_000).step_by(250) {
        ev.extend(r.timer(t));
        if r.handler.in_sync(r.btc) {
            break;
        }
    }
    assert!(r.handler.in_sync(r.btc));
    let book = r.handler.book(r.btc).unwrap();
    let bids: Vec<_> = book.bids(10).collect();
    assert_eq!(
        bids,
        vec![
            (d("99"), d("1")),
            (d("98"), d("1")),
            (d("97"), d("1")),
            (d("96"), d("1"))
        ]
    );
    assert_eq!(book.seq(), 43);
    let ev = r.message(31_000, &book_msg("update", 43, 44, &[("95", "1")], &[], 0));
    assert_eq!(book_levels(&ev), 1);
}

fn book_levels(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| e.kind() == EventKind::BookLevel)
        .count()
}

#[test]
fn a_pong_that_never_comes_recycles_the_connection() {
    let mut r = Rig::new();
    r.take_sent();
    r.timer(20_000);
    assert_eq!(r.take_sent(), vec!["ping".to_string()]);
    // The pong comes: nothing happens at the deadline.
    r.message(21_000, "pong");
    r.timer(26_000);
    assert_eq!(r.actions.recycles(), None);
    assert_eq!(r.handler.stats().pongs, 1);
    r.timer(40_000);
    assert_eq!(r.take_sent(), vec!["ping".to_string()]);
    r.timer(45_001);
    assert_eq!(r.actions.recycles(), Some(Reason::PongTimeout));
    assert_eq!(r.handler.stats().pong_timeouts, 1);
}

#[test]
fn trades_pass_through_the_handler() {
    let mut r = Rig::new();
    let ev = r.message(
        1,
        r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"5","px":"1","sz":"2","side":"sell","ts":"1","count":"1"}]}"#,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].as_trade().unwrap().side, Side::Sell);
}

/// A `books` message from its parts: the top-level, `arg` and data-object fields in the
/// order given, `sep` after every `:` and `,` of the envelope (whitespace there sends every
/// key and value of the envelope through the general reader).
fn book_text(top: &[&str], arg: &[(&str, &str)], data: &[(&str, &str)], sep: &str) -> String {
    let obj = |fields: &[(&str, &str)]| {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\":{sep}{v}"))
            .collect();
        format!("{{{}}}", body.join(&format!(",{sep}")))
    };
    let arg = obj(arg);
    let data = format!("[{}]", obj(data));
    let fields: Vec<(&str, &str)> = top
        .iter()
        .map(|k| match *k {
            "arg" => ("arg", arg.as_str()),
            "data" => ("data", data.as_str()),
            _ => ("action", "\"snapshot\""),
        })
        .collect();
    obj(&fields)
}

const ASKS: &str = r#"[["8476.98","415","0","13"],["8477","7","0","2"]]"#;
const BIDS: &str = r#"[["8476.97","256","0","12"]]"#;
const ARG: [(&str, &str); 2] = [("channel", "\"books\""), ("instId", "\"BTC-USDT\"")];

#[test]
fn envelope_fields_in_any_order_a_missing_checksum_and_snapshot_ids() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let i = reg.lookup(VENUE, "BTC-USDT").unwrap();
    // The documented snapshot (venues.md §6): prevSeqId -1, seqId 123456.
    let doc = [
        ("asks", ASKS),
        ("bids", BIDS),
        ("ts", "\"1597026383085\""),
        ("checksum", "-855196043"),
        ("prevSeqId", "-1"),
        ("seqId", "123456"),
    ];
    let want = Ok(Frame::BookSnapshot {
        instrument: i,
        ids: DiffIds {
            first: 123456,
            last: 123456,
            prev: None,
        },
        checksum: Some((-855196043i32) as u32),
    });
    let arg_rev = [ARG[1], ARG[0]];
    let mut data_rev = doc;
    data_rev.reverse();
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let orders: [(&[&str], Fields, Fields); 4] = [
        (&["arg", "action", "data"], &ARG, &doc),
        (&["data", "action", "arg"], &arg_rev, &data_rev),
        (&["action", "arg", "data"], &ARG, &data_rev),
        (&["arg", "data", "action"], &arg_rev, &doc),
    ];
    for (top, arg, data) in orders {
        for sep in ["", " "] {
            let text = book_text(top, arg, data, sep);
            let (r, ev) = decode(&mut dec, &text);
            assert_eq!(r, want, "{text}");
            assert_eq!(ev.len(), 3, "{text}");
            for e in &ev {
                assert_eq!(e.seq, 123456, "{text}");
                assert_eq!(e.exchange_ts, 1_597_026_383_085_000_000, "{text}");
            }
        }
    }
    // No checksum, or checksum 0: none. Negative checksums are the CRC's i32 bits.
    let without: Vec<_> = doc.iter().copied().filter(|f| f.0 != "checksum").collect();
    let with = |ck: &'static str| -> Vec<(&str, &str)> {
        doc.iter()
            .map(|&(k, v)| if k == "checksum" { (k, ck) } else { (k, v) })
            .collect()
    };
    for (data, ck) in [
        (without, None),
        (with("0"), None),
        (with("-1"), Some(u32::MAX)),
        (with("-0"), None),
        (with("2147483647"), Some(2_147_483_647)),
    ] {
        let text = book_text(&["arg", "action", "data"], &ARG, &data, "");
        match decode(&mut dec, &text).0 {
            Ok(Frame::BookSnapshot { checksum, .. }) => assert_eq!(checksum, ck, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

/// Field values around the shapes the envelope reads where they stand (`-?digits`, quoted
/// digits): each answer is pinned from the rules (venues.md §6 and the module docs: ids
/// are unsigned except `prevSeqId -1`, `ts` is ms, the checksum an i32), whichever reader
/// takes it.
#[test]
fn envelope_integers_at_the_edges() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let base = [
        ("asks", ASKS),
        ("bids", BIDS),
        ("ts", "\"5\""),
        ("checksum", "0"),
        ("prevSeqId", "-1"),
        ("seqId", "11"),
    ];
    let seq_of = |r: Result<Frame, Reason>| -> Result<u64, Reason> {
        match r? {
            Frame::BookSnapshot { ids, .. } => Ok(ids.last),
            other => panic!("{other:?}"),
        }
    };
    let cases: [(&str, &str, Result<u64, Reason>); 16] = [
        ("seqId", "11", Ok(11)),
        ("seqId", "\"11\"", Ok(11)),
        ("seqId", "007", Ok(7)),
        ("seqId", "18446744073709551615", Ok(u64::MAX)),
        ("seqId", "18446744073709551616", Err(Reason::Number)),
        ("seqId", "11a", Err(Reason::Number)),
        ("seqId", "1.5", Err(Reason::Number)),
        ("seqId", "1e3", Err(Reason::Number)),
        ("seqId", "-11", Err(Reason::Number)),
        ("seqId", "true", Err(Reason::Number)),
        ("seqId", "[11]", Err(Reason::Number)),
        ("prevSeqId", "-9223372036854775808", Err(Reason::Number)),
        ("prevSeqId", "-2", Err(Reason::Number)),
        ("checksum", "2147483648", Err(Reason::Number)),
        ("ts", "\"-5\"", Err(Reason::Number)),
        ("ts", "\"18446744073710\"", Err(Reason::Number)),
    ];
    for (key, value, want) in cases {
        let data: Vec<(&str, &str)> = base
            .iter()
            .map(|&(k, v)| if k == key { (k, value) } else { (k, v) })
            .collect();
        for sep in ["", " "] {
            let text = book_text(&["arg", "action", "data"], &ARG, &data, sep);
            assert_eq!(seq_of(decode(&mut dec, &text).0), want, "{text}");
        }
    }
    // `ts` unquoted is read as before (ms either way).
    let data: Vec<_> = base
        .iter()
        .map(|&(k, v)| if k == "ts" { (k, "5") } else { (k, v) })
        .collect();
    let (r, ev) = decode(
        &mut dec,
        &book_text(&["arg", "action", "data"], &ARG, &data, ""),
    );
    assert!(r.is_ok());
    assert_eq!(ev[0].exchange_ts, 5_000_000);
}

/// The envelope's one-compare keys and in-place integers answer exactly as the general
/// reader: generated `books` and `bbo-tbt` messages (fields in random order, some missing
/// or repeated, unknown ones, values of every shape, valid or not) decode alike written as
/// OKX writes them and with whitespace after every `:` and `,` of the envelope (which only
/// the general reader takes).
#[test]
fn the_envelope_fast_path_answers_as_the_general_reader() {
    let reg = Registry::new();
    let mut dec = decoder(&reg, &["BTC-USDT"]);
    let ints = [
        "11",
        "-1",
        "0",
        "-0",
        "\"12\"",
        "13a",
        "1.5",
        "1e3",
        "12345678901234567890",
        "99999999999999999999",
        "-9223372036854775808",
        "-9223372036854775809",
        "4294967295",
        "-2147483648",
        "007",
        "true",
        "null",
        "\"\"",
        "-",
        "[1]",
        "{}",
        "9",
        "10",
    ];
    let tss = [
        "\"1597026383085\"",
        "1597026383085",
        "\"5x\"",
        "\"\"",
        "\"18446744073709\"",
        "\"18446744073710\"",
        "\"-5\"",
        "\"0\"",
        "\"12345678901234567890\"",
    ];
    let mut rng = crate::scan_levels::generate::Rng(0x9B05_688C_2B3E_6C1F);
    let mut pick = |n: usize| (rng.next() % n as u64) as usize;
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut data: Vec<(&str, &str)> = Vec::new();
        for (key, values) in [
            ("ts", &tss[..]),
            ("checksum", &ints[..]),
            ("prevSeqId", &ints[..]),
            ("seqId", &ints[..]),
        ] {
            // Mostly a usual value, sometimes any, sometimes missing or twice.
            let n = [1, 1, 1, 1, 0, 2][pick(6)];
            for _ in 0..n {
                let v = if pick(3) == 0 {
                    values[pick(values.len())]
                } else {
                    // seqId's usual value is 11 (-1 is never a seqId).
                    values[pick(if key == "seqId" { 1 } else { 2 })]
                };
                data.push((key, v));
            }
        }
        if pick(8) != 0 {
            data.push(("asks", ASKS));
        }
        if pick(8) != 0 {
            data.push(("bids", if pick(2) == 0 { BIDS } else { "[]" }));
        }
        if pick(10) == 0 {
            data.push(("instId", "\"BTC-USDT\""));
        }
        if pick(10) == 0 {
            data.push(("other", "[1,{\"a\":2}]"));
        }
        for i in (1..data.len()).rev() {
            data.swap(i, pick(i + 1));
        }
        let mut top = ["arg", "action", "data"];
        for i in (1..3).rev() {
            top.swap(i, pick(i + 1));
        }
        let mut arg = ARG.to_vec();
        if pick(4) == 0 {
            arg.swap(0, 1);
        }
        if pick(6) == 0 {
            arg[0].1 = "\"bbo-tbt\"";
        }
        let fast = book_text(&top, &arg, &data, "");
        let general = book_text(&top, &arg, &data, " ");
        let (rf, ef) = decode(&mut dec, &fast);
        let (rg, eg) = decode(&mut dec, &general);
        assert_eq!(rf, rg, "{fast}");
        assert_eq!(ef, eg, "{fast}");
        if rf.is_ok() {
            ok += 1;
        } else {
            err += 1;
        }
    }
    assert!(ok > 4_000 && err > 4_000, "{ok} {err}");
}
