//! Decode, sequence-rule and request tests for the Bybit adapter. Expected values are read
//! off the documented messages (venues.md §5, §12) by hand, never from the decoder's output.

use tickwire_engine::adapter::{DiffIds, FeedAdapter, Frame, SeqCheck};
use tickwire_engine::event::{EventKind, Flags, Side};
use tickwire_engine::{Decimal, Event, InstrumentId, Reason, Registry, TradeId};

use super::*;

const BOOK_SNAPSHOT: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
const BOOK_DELTA: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1672304484988,"data":{"s":"BTCUSDT","b":[["16493.50","0"]],"a":[["16611.00","0.031"]],"u":18521289,"seq":7961638726},"cts":1672304484985}"#;
const TRADE_LINEAR: &str = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1709891679005,"data":[{"T":1709891679000,"s":"BTCUSDT","S":"Buy","v":"0.010","p":"27451.00","L":"PlusTick","i":"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110","BT":false,"seq":987654322}]}"#;
/// Spot: `ts` before `type`, numeric trade ids, two trades in one message.
const TRADE_SPOT: &str = r#"{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[{"i":"2290000000007764263","T":1672304486865,"p":"16578.50","v":"0.001","S":"Sell","s":"BTCUSDT","BT":false},{"i":"2290000000007764264","T":1672304486866,"p":"16578.60","v":"0.5","S":"Buy","s":"BTCUSDT","BT":false}]}"#;
const TICKER_SNAPSHOT: &str = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","tickDirection":"PlusTick","price24hPcnt":"0.017103","lastPrice":"17216.00","prevPrice24h":"16926.50","highPrice24h":"17281.50","lowPrice24h":"16915.00","prevPrice1h":"17238.00","markPrice":"17217.33","indexPrice":"17227.36","openInterest":"68744.761","openInterestValue":"1183601235.91","turnover24h":"1570383121.943499","volume24h":"91705.276","nextFundingTime":"1673280000000","fundingRate":"-0.000212","bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"},"cs":24987956059,"ts":1673272861686}"#;
const TICKER_DELTA: &str = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","price24hPcnt":"0.017","bid1Price":"17215.00","bid1Size":"10.5"},"cs":24987956060,"ts":1673272861700}"#;

fn d(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap()
}

fn adapter(market: Market, subs: &[Subscription]) -> (BybitAdapter, Registry) {
    let registry = Registry::new();
    let a = BybitAdapter::new(BybitConfig::for_market(market), subs, &registry).unwrap();
    (a, registry)
}

fn linear() -> (BybitAdapter, Registry) {
    adapter(
        Market::Linear,
        &Subscription::product(
            &["BTCUSDT"],
            &[Channel::Trade, Channel::Bbo, Channel::Book(Depth::L50)],
        ),
    )
}

fn decode(a: &mut BybitAdapter, msg: &str) -> Result<(Frame, Vec<Event>), Reason> {
    let mut out = Vec::new();
    let mut buf = msg.as_bytes().to_vec();
    let r = a.decode(&mut buf, 7, &mut out).map_err(|e| e.reason);
    r.map(|f| (f, out))
}

fn levels(events: &[Event]) -> Vec<(Side, Decimal, Decimal, u64)> {
    events
        .iter()
        .map(|e| {
            let l = e.as_level().unwrap();
            (l.side, l.price, l.qty, l.seq)
        })
        .collect()
}

#[test]
fn documented_book_snapshot_and_delta() {
    let (mut a, reg) = linear();
    let btc = reg.lookup("bybit-linear", "BTCUSDT").unwrap();
    let (f, ev) = decode(&mut a, BOOK_SNAPSHOT).unwrap();
    let ids = DiffIds {
        first: 18521288,
        last: 18521288,
        prev: None,
    };
    assert_eq!(
        f,
        Frame::BookSnapshot {
            instrument: btc,
            ids,
            checksum: None
        }
    );
    assert_eq!(
        levels(&ev),
        vec![
            (Side::Buy, d("16493.50"), d("0.006"), 18521288),
            (Side::Buy, d("16493.00"), d("0.100"), 18521288),
            (Side::Sell, d("16611.00"), d("0.029"), 18521288),
            (Side::Sell, d("16612.00"), d("0.213"), 18521288),
        ]
    );
    assert!(
        ev.iter()
            .all(|e| e.exchange_ts == 1_672_304_484_978_000_000)
    );
    assert!(ev.iter().all(|e| e.recv_ts == 7 && e.instrument == btc));

    let (f, ev) = decode(&mut a, BOOK_DELTA).unwrap();
    let ids = DiffIds {
        first: 18521289,
        last: 18521289,
        prev: None,
    };
    assert_eq!(
        f,
        Frame::BookDiff {
            instrument: btc,
            ids,
            checksum: None
        }
    );
    assert_eq!(
        levels(&ev),
        vec![
            (Side::Buy, d("16493.50"), d("0"), 18521289),
            (Side::Sell, d("16611.00"), d("0.031"), 18521289),
        ]
    );
    assert_eq!(ev[0].flags, Flags::EMPTY);
    assert_eq!(ev[1].flags, Flags::LAST_IN_BATCH);
    assert_eq!(ev[1].exchange_ts, 1_672_304_484_988_000_000);
}

#[test]
fn trades_carry_the_taker_side_and_their_ids() {
    let (mut a, reg) = linear();
    let btc = reg.lookup("bybit-linear", "BTCUSDT").unwrap();
    let (f, ev) = decode(&mut a, TRADE_LINEAR).unwrap();
    assert_eq!(f, Frame::Market);
    assert_eq!(ev.len(), 1);
    let t = ev[0].as_trade().unwrap();
    assert_eq!(
        (t.side, t.price, t.qty),
        (Side::Buy, d("27451.00"), d("0.010"))
    );
    assert_eq!(
        ev[0].trade_id(),
        Some(TradeId::Uuid(0x9dc75fca_4bdd_4773_9f78_6f5d7ab2a110))
    );
    assert_eq!(ev[0].exchange_ts, 1_709_891_679_000_000_000);
    assert_eq!(ev[0].instrument, btc);

    let (mut s, _) = adapter(
        Market::Spot,
        &[Subscription::new("BTCUSDT", Channel::Trade)],
    );
    let (_, ev) = decode(&mut s, TRADE_SPOT).unwrap();
    assert_eq!(ev.len(), 2);
    let (t0, t1) = (ev[0].as_trade().unwrap(), ev[1].as_trade().unwrap());
    assert_eq!(
        (t0.side, t0.price, t0.qty, t0.id),
        (Side::Sell, d("16578.50"), d("0.001"), 2290000000007764263)
    );
    assert_eq!(
        (t1.side, t1.price, t1.qty, t1.id),
        (Side::Buy, d("16578.60"), d("0.5"), 2290000000007764264)
    );
    assert_eq!(ev[1].trade_id(), Some(TradeId::Number(2290000000007764264)));
    assert_eq!(ev[0].exchange_ts, 1_672_304_486_865_000_000);
    // An empty trade array is a message with no events.
    let empty = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[]}"#;
    assert_eq!(decode(&mut s, empty), Ok((Frame::Market, vec![])));
}

/// Reorders the keys of every object of a JSON document (reversed), through an independent
/// parser (serde-free: simd-json's owned value keeps insertion order).
fn reversed(msg: &str) -> String {
    fn rev(v: &simd_json::OwnedValue) -> String {
        use simd_json::prelude::*;
        match v {
            simd_json::OwnedValue::Object(o) => {
                let mut kv: Vec<(&String, &simd_json::OwnedValue)> = o.iter().collect();
                kv.reverse();
                let parts: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{}", simd_json::to_string(k).unwrap(), rev(v)))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            simd_json::OwnedValue::Array(a) => {
                let parts: Vec<String> = a.iter().map(rev).collect();
                format!("[{}]", parts.join(","))
            }
            other => {
                let _ = other.value_type();
                simd_json::to_string(other).unwrap()
            }
        }
    }
    let mut bytes = msg.as_bytes().to_vec();
    let v: simd_json::OwnedValue = simd_json::to_owned_value(&mut bytes).unwrap();
    rev(&v)
}

#[test]
fn key_order_does_not_matter() {
    for msg in [
        BOOK_SNAPSHOT,
        BOOK_DELTA,
        TRADE_LINEAR,
        TICKER_SNAPSHOT,
        TICKER_DELTA,
    ] {
        let r = reversed(msg);
        assert!(
            r.starts_with(r#"{"cts""#) || r.starts_with(r#"{"ts""#) || r.starts_with(r#"{"data""#),
            "{r}"
        );
        let (mut a, _) = linear();
        let (mut b, _) = linear();
        // Tickers merge deltas on the snapshot: feed both the snapshot first.
        if msg == TICKER_DELTA {
            decode(&mut a, TICKER_SNAPSHOT).unwrap();
            decode(&mut b, TICKER_SNAPSHOT).unwrap();
        }
        let one = decode(&mut a, msg).unwrap();
        let other = decode(&mut b, &r).unwrap();
        assert_eq!(one.0, other.0, "{r}");
        // Levels are in venue order: with `a` before `b` the sides swap places.
        let mut x = one.1.clone();
        let mut y = other.1.clone();
        for e in x.iter_mut().chain(y.iter_mut()) {
            e.flags = Flags::EMPTY;
        }
        let key = |e: &Event| (e.side() as u8, e.as_level().map(|l| l.price));
        x.sort_by_key(key);
        y.sort_by_key(key);
        assert_eq!(x, y, "{r}");
    }
    // Whitespace anywhere JSON allows it (the fuzz driver found a space before the comma
    // between two levels refused).
    for msg in [BOOK_DELTA, BOOK_SNAPSHOT, TRADE_SPOT] {
        let spaced = msg
            .replace(':', " : ")
            .replace(',', " ,\n ")
            .replace('[', "[ ")
            .replace(']', " ]\t")
            .replace('{', "\r{ ");
        let (mut a, _) = linear();
        let (mut b, _) = linear();
        let (mut c, _) = linear();
        assert!(decode(&mut a, msg).is_ok());
        assert_eq!(decode(&mut a, msg), decode(&mut b, &spaced), "{spaced}");
        let one = BOOK_SNAPSHOT.replace("] ,[", "],[").replace("],[", "] ,[");
        assert_eq!(decode(&mut a, BOOK_SNAPSHOT), decode(&mut c, &one), "{one}");
    }
}

#[test]
fn linear_tickers_merge_deltas_into_a_full_bbo() {
    let (mut a, reg) = linear();
    let btc = reg.lookup("bybit-linear", "BTCUSDT").unwrap();
    // A delta before any snapshot: not enough to say what the BBO is.
    assert_eq!(decode(&mut a, TICKER_DELTA), Ok((Frame::Market, vec![])));
    let (f, ev) = decode(&mut a, TICKER_SNAPSHOT).unwrap();
    assert_eq!(f, Frame::Market);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.bid_price, b.bid_qty, b.ask_price, b.ask_qty, b.seq),
        (
            d("17215.50"),
            d("84.489"),
            d("17216.00"),
            d("83.020"),
            24987956059
        )
    );
    assert_eq!(ev[0].instrument, btc);
    assert_eq!(ev[0].exchange_ts, 1_673_272_861_686_000_000);
    // The delta changes the bid only: the ask is the snapshot's.
    let (_, ev) = decode(&mut a, TICKER_DELTA).unwrap();
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.bid_price, b.bid_qty, b.ask_price, b.ask_qty, b.seq),
        (
            d("17215.00"),
            d("10.5"),
            d("17216.00"),
            d("83.020"),
            24987956060
        )
    );
    // A delta with no BBO field (mark price only) gives no event.
    let other = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"17217.00"},"cs":24987956061,"ts":1673272861800}"#;
    assert_eq!(decode(&mut a, other), Ok((Frame::Market, vec![])));
    // A new session forgets the last BBO until its snapshot.
    let mut frames = Vec::new();
    a.connect_frames(&mut frames);
    assert_eq!(decode(&mut a, TICKER_DELTA), Ok((Frame::Market, vec![])));
}

#[test]
fn spot_bbo_comes_from_orderbook_1() {
    let (mut a, reg) = adapter(
        Market::Spot,
        &[
            Subscription::new("BTCUSDT", Channel::Bbo),
            Subscription::new("ETHUSDT", Channel::Book(Depth::L1)),
        ],
    );
    let btc = reg.lookup("bybit", "BTCUSDT").unwrap();
    let eth = reg.lookup("bybit", "ETHUSDT").unwrap();
    // Spot puts ts before type (venues.md §5).
    let l1 = |s: &str, b: &str| {
        format!(
            r#"{{"topic":"orderbook.1.{s}","ts":1672304484978,"type":"snapshot","data":{{"s":"{s}","b":{b},"a":[["16611.00","0.029"]],"u":55,"seq":7961638724}},"cts":1672304484976}}"#
        )
    };
    let (f, ev) = decode(&mut a, &l1("BTCUSDT", r#"[["16493.50","0.006"]]"#)).unwrap();
    assert_eq!(f, Frame::Market);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (b.bid_price, b.bid_qty, b.ask_price, b.ask_qty, b.seq),
        (d("16493.50"), d("0.006"), d("16611.00"), d("0.029"), 55)
    );
    assert_eq!((ev.len(), ev[0].instrument), (1, btc));
    // An empty side reads as zero.
    let (_, ev) = decode(&mut a, &l1("BTCUSDT", "[]")).unwrap();
    let b = ev[0].as_bbo().unwrap();
    assert_eq!((b.bid_price, b.bid_qty), (Decimal::ZERO, Decimal::ZERO));
    // A symbol subscribed as a level-1 book gets a book snapshot.
    let (f, ev) = decode(&mut a, &l1("ETHUSDT", r#"[["16493.50","0.006"]]"#)).unwrap();
    assert!(matches!(f, Frame::BookSnapshot { instrument, .. } if instrument == eth));
    assert_eq!(ev.len(), 2);
    // The spot BBO topic is orderbook.1; spot tickers carry no BBO.
    assert_eq!(
        Subscription::new("BTCUSDT", Channel::Bbo).topic(Market::Spot),
        "orderbook.1.BTCUSDT"
    );
    assert_eq!(
        Subscription::from_topic(Market::Spot, "tickers.BTCUSDT"),
        None
    );
}

#[test]
fn replies_pongs_and_keep_alives_give_no_events() {
    let (mut a, _) = linear();
    let mut frames = Vec::new();
    a.connect_frames(&mut frames);
    assert_eq!(a.pending_ids(), &[1]);
    let ok = r#"{"success":true,"ret_msg":"","conn_id":"cejreaspqfm9se7usbrg-2xh","req_id":"1","op":"subscribe"}"#;
    assert_eq!(decode(&mut a, ok), Ok((Frame::Ack { id: 1 }, vec![])));
    assert_eq!(a.pending_acks(), 0);
    let bad = r#"{"success":false,"ret_msg":"error:handler not found,topic:orderbook.500.BTCUSDT","conn_id":"x","req_id":"9","op":"subscribe"}"#;
    assert_eq!(
        decode(&mut a, bad),
        Ok((
            Frame::SubscriptionError {
                id: Some(9),
                code: 0
            },
            vec![]
        ))
    );
    // Spot/linear pong, with and without req_id; option-style pong; key order swapped.
    for pong in [
        r#"{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}"#,
        r#"{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"ping","op":"ping"}"#,
        r#"{"op":"ping","conn_id":"c","ret_msg":"pong","success":true}"#,
        r#"{"op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}"#,
    ] {
        assert_eq!(decode(&mut a, pong), Ok((Frame::Pong, vec![])), "{pong}");
    }
    // Level-1 re-push after 3 s (same u): a snapshot again, for the handler to install.
    let (mut s, _) = adapter(
        Market::Spot,
        &[Subscription::new("BTCUSDT", Channel::Book(Depth::L1))],
    );
    let l1 = r#"{"topic":"orderbook.1.BTCUSDT","ts":1,"type":"snapshot","data":{"s":"BTCUSDT","b":[["1","2"]],"a":[["3","4"]],"u":5,"seq":9}}"#;
    let first = decode(&mut s, l1).unwrap();
    assert_eq!(decode(&mut s, l1).unwrap(), first);
}

#[test]
fn malformed_messages_are_typed_errors_and_count() {
    let (mut a, _) = linear();
    let cases: Vec<(String, Reason)> = vec![
        (BOOK_DELTA[..60].to_owned(), Reason::Json),
        (format!("{BOOK_DELTA}x"), Reason::Json),
        (BOOK_DELTA.replace("\"0.031\"", "\"-0.031\""), Reason::Number),
        (BOOK_DELTA.replace("\"0.031\"", "\"00.031\""), Reason::Number),
        (BOOK_DELTA.replace("\"0.031\"", "\"1.\""), Reason::Number),
        (BOOK_DELTA.replace("\"0.031\"", "\"\""), Reason::Number),
        (BOOK_DELTA.replace("\"0.031\"", "0.031"), Reason::Schema),
        (
            BOOK_DELTA.replace("\"0.031\"", "\"99999999999999999999\""),
            Reason::Number,
        ),
        (
            BOOK_DELTA.replace("\"0.031\"", "\"0.0000000000000001\""),
            Reason::Number,
        ),
        (BOOK_DELTA.replace("18521289", "-1"), Reason::Number),
        (
            BOOK_DELTA.replace("18521289", "99999999999999999999"),
            Reason::Number,
        ),
        (BOOK_DELTA.replace("18521289", "1.5"), Reason::Number),
        (BOOK_DELTA.replace("18521289", "\"18521289\""), Reason::Schema),
        (BOOK_DELTA.replace(",\"u\":18521289", ""), Reason::Schema),
        (BOOK_DELTA.replace("\"delta\"", "\"other\""), Reason::Schema),
        (BOOK_DELTA.replace("\"s\":\"BTCUSDT\"", "\"s\":\"XRPUSDT\""), Reason::UnknownSymbol),
        (BOOK_DELTA.replace("[\"16493.50\",\"0\"]", "[\"16493.50\",\"0\",\"1\"]"), Reason::Schema),
        (BOOK_DELTA.replace("\"data\":{", "\"data\":[{").replace("},\"cts\"", "}],\"cts\""), Reason::Schema),
        (TRADE_LINEAR.replace("\"Buy\"", "\"buy\""), Reason::Schema),
        (TRADE_LINEAR.replace("\"i\":\"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110\"", "\"i\":\"\""), Reason::Schema),
        (TRADE_LINEAR.replace("1709891679000,", "18446744073709551615,"), Reason::Number),
        (TICKER_DELTA.replace("\"10.5\"", "\"x\""), Reason::Number),
        ("".to_owned(), Reason::Json),
        ("[]".to_owned(), Reason::Schema),
        ("{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\"}".to_owned(), Reason::Schema),
        ("{\"topic\":\"orderbook.50.BTCUSDT\",\"data\":{\"s\":\"BTCUSDT\",\"b\":[],\"a\":[],\"u\":1},\"type\":\"delta\",\"x\":\u{1}}".to_owned(), Reason::Json),
    ];
    for (i, (msg, want)) in cases.iter().enumerate() {
        let before = a.decode_stats();
        assert_eq!(decode(&mut a, msg).err(), Some(*want), "case {i}: {msg}");
        let after = a.decode_stats();
        let moved = match want {
            Reason::Json => after.json_errors - before.json_errors,
            Reason::Number => after.number_errors - before.number_errors,
            Reason::UnknownSymbol => after.unknown_symbols - before.unknown_symbols,
            _ => after.schema_errors - before.schema_errors,
        };
        assert_eq!(moved, 1, "case {i}");
    }
    // Exponents and huge-but-exact numbers are numbers JSON allows: exact values.
    let (_, ev) = decode(&mut a, &BOOK_DELTA.replace("\"0.031\"", "\"31e-3\"")).unwrap();
    assert_eq!(ev[1].as_level().unwrap().qty, d("0.031"));
    let (_, ev) = decode(
        &mut a,
        &BOOK_DELTA.replace("\"0.031\"", "\"922337203685477580\""),
    )
    .unwrap();
    assert_eq!(ev[1].as_level().unwrap().qty, d("922337203685477580"));
    // Unknown topics are counted, not errors; unknown fields too.
    let before = a.decode_stats();
    let unknown = r#"{"topic":"kline.1.BTCUSDT","type":"snapshot","ts":1,"data":[{"start":1}]}"#;
    assert_eq!(decode(&mut a, unknown), Ok((Frame::Unknown, vec![])));
    assert_eq!(decode(&mut a, "{}"), Ok((Frame::Unknown, vec![])));
    let extra = BOOK_DELTA.replace("\"seq\"", "\"new\":[1,{\"x\":null}],\"seq\"");
    assert_eq!(decode(&mut a, &extra).unwrap().1.len(), 2);
    let after = a.decode_stats();
    assert_eq!(after.unknown_messages - before.unknown_messages, 2);
    assert_eq!(after.unknown_fields - before.unknown_fields, 1);
    // Empty diffs are diffs without levels.
    let empty = BOOK_DELTA
        .replace("[[\"16493.50\",\"0\"]]", "[]")
        .replace("[[\"16611.00\",\"0.031\"]]", "[]");
    assert!(matches!(decode(&mut a, &empty), Ok((Frame::BookDiff { .. }, v)) if v.is_empty()));
}

#[test]
fn sequence_rules_follow_the_documented_u_chain() {
    let (a, _) = linear();
    let ids = |u: u64| DiffIds {
        first: u,
        last: u,
        prev: None,
    };
    // (last applied u, diff u) → verdict (venues.md §5, §12).
    let table = [
        (100, 101, SeqCheck::Apply),
        (100, 102, SeqCheck::Gap),
        (100, 100, SeqCheck::Stale),
        (100, 50, SeqCheck::Stale),
        (100, 1, SeqCheck::Reset),
        (0, 1, SeqCheck::Reset),
        (1, 2, SeqCheck::Apply),
        (u64::MAX, 5, SeqCheck::Stale),
    ];
    for (last, u, want) in table {
        assert_eq!(a.next_diff(&ids(last), &ids(u)), want, "{last} → {u}");
        assert_eq!(a.first_diff(last, &ids(u)), want, "{last} → {u}");
        assert_eq!(a.join_diff(&ids(last), &ids(u)), want, "{last} → {u}");
    }
}

#[test]
fn requests_respect_the_per_request_limit_and_share_topics() {
    let syms: Vec<String> = (0..23).map(|i| format!("S{i}USDT")).collect();
    let (mut spot, reg) = adapter(
        Market::Spot,
        &Subscription::product(&syms, &[Channel::Trade]),
    );
    let mut frames = Vec::new();
    spot.connect_frames(&mut frames);
    assert_eq!(frames.len(), 3); // 10 + 10 + 3 topics
    let first = String::from_utf8(frames[0].clone()).unwrap();
    assert!(first.starts_with(r#"{"req_id":"1","op":"subscribe","args":["publicTrade.S0USDT","#));
    assert_eq!(first.matches("publicTrade.").count(), 10);
    assert_eq!(spot.pending_ids(), &[1, 2, 3]);
    // Spot BBO and level-1 book share orderbook.1: one subscribe, unsubscribed with the last.
    let mut out = Vec::new();
    spot.subscribe(&[Subscription::new("S0USDT", Channel::Bbo)], &mut out);
    spot.subscribe(
        &[Subscription::new("S0USDT", Channel::Book(Depth::L1))],
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(String::from_utf8_lossy(&out[0]).contains(r#""args":["orderbook.1.S0USDT"]"#));
    out.clear();
    spot.unsubscribe(&[Subscription::new("S0USDT", Channel::Bbo)], &mut out);
    assert!(out.is_empty());
    spot.unsubscribe(
        &[Subscription::new("S0USDT", Channel::Book(Depth::L1))],
        &mut out,
    );
    assert!(
        String::from_utf8_lossy(&out[0])
            .contains(r#""op":"unsubscribe","args":["orderbook.1.S0USDT"]"#)
    );
    // A second depth of one symbol is refused; an invalid symbol is never interned.
    out.clear();
    spot.subscribe(
        &[
            Subscription::new("S1USDT", Channel::Book(Depth::L50)),
            Subscription::new("S1USDT", Channel::Book(Depth::L200)),
            Subscription::new("BAD\",\"X", Channel::Trade),
        ],
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert!(String::from_utf8_lossy(&out[0]).contains(r#""args":["orderbook.50.S1USDT"]"#));
    assert_eq!(reg.lookup("bybit", "BAD\",\"X"), None);
    // Resubscribe: unsubscribe then subscribe of the one book topic.
    let s1 = reg.lookup("bybit", "S1USDT").unwrap();
    out.clear();
    spot.resubscribe(s1, &mut out);
    let text: Vec<String> = out
        .iter()
        .map(|f| String::from_utf8(f.clone()).unwrap())
        .collect();
    assert_eq!(text.len(), 2);
    assert!(text[0].contains(r#""op":"unsubscribe","args":["orderbook.50.S1USDT"]"#));
    assert!(text[1].contains(r#""op":"subscribe","args":["orderbook.50.S1USDT"]"#));
    // No book: nothing to resubscribe (the handler then recycles).
    out.clear();
    spot.resubscribe(InstrumentId(9999), &mut out);
    assert!(out.is_empty());
    assert_eq!(
        BybitAdapter::new(
            BybitConfig::for_market(Market::Spot),
            &[
                Subscription::new("A", Channel::Book(Depth::L50)),
                Subscription::new("A", Channel::Book(Depth::L1))
            ],
            &reg
        )
        .err(),
        Some(PlanError::TwoDepths)
    );
}

#[test]
fn topics_parse_back() {
    for m in [Market::Spot, Market::Linear] {
        for c in [
            Channel::Trade,
            Channel::Book(Depth::L1),
            Channel::Book(Depth::L50),
            Channel::Book(Depth::L200),
        ] {
            let s = Subscription::new("BTCUSDT", c);
            assert_eq!(Subscription::from_topic(m, &s.topic(m)), Some(s));
        }
        assert_eq!(
            Subscription::from_topic(m, "bbo.ETHUSDT"),
            Some(Subscription::new("ETHUSDT", Channel::Bbo))
        );
        for bad in [
            "orderbook.500.BTCUSDT",
            "orderbook.50.",
            "orderbook.50.btcusdt",
            "publicTrade.BTC\"USDT",
            "kline.1.BTCUSDT",
            "",
        ] {
            assert_eq!(Subscription::from_topic(m, bad), None, "{bad}");
        }
    }
    assert_eq!(
        Subscription::from_topic(Market::Linear, "tickers.BTCUSDT"),
        Some(Subscription::new("BTCUSDT", Channel::Bbo))
    );
}

#[test]
fn connections_stay_within_21000_characters_of_args() {
    let syms: Vec<String> = (0..3000).map(|i| format!("SYM{i:05}USDT")).collect();
    let subs = Subscription::product(&syms, &[Channel::Trade, Channel::Book(Depth::L50)]);
    let groups = plan_connections(Market::Linear, &subs, usize::MAX, usize::MAX);
    let mut total = 0;
    for g in &groups {
        let chars: usize = topics(Market::Linear, g).iter().map(String::len).sum();
        assert!(chars <= MAX_ARGS_CHARS_PER_CONNECTION, "{chars}");
        total += g.len();
        // A symbol's two subscriptions stay together.
        for s in g {
            assert!(g.iter().filter(|t| t.symbol == s.symbol).count() == 2);
        }
    }
    assert_eq!(total, subs.len());
    // topic lengths: "publicTrade." + 13 = 25, "orderbook.50." + 13 = 26; 51 a symbol.
    assert_eq!(groups.len(), (3000 * 51usize).div_ceil(21_000 / 51 * 51));
    let few = plan_connections(Market::Spot, &subs[..40], 10, usize::MAX);
    assert_eq!(few.len(), 4);
    // The launcher refuses plans past the venue's 500 connections per 5 minutes.
    let feed = BybitFeed::new(Market::Spot)
        .symbols(&syms)
        .channels(&[Channel::Trade]);
    let mut config = feed.config().clone();
    config.max_topics = 5;
    let feed = BybitFeed::with_config(config)
        .symbols(&syms)
        .channels(&[Channel::Trade]);
    assert_eq!(
        feed.plan().err(),
        Some(FeedError::TooManyConnections {
            needed: 600,
            max: 500
        })
    );
    let _ = EventKind::Trade;
}
