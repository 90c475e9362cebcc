//! Decode, sequence, request and planner tests for the Coinbase adapter. Expected values are
//! read off the documented messages (venues.md §3a, §12: the nautilus fixture shapes) by
//! hand, never from the decoder's output.

use tickwire_engine::adapter::{DiffIds, FeedAdapter, Frame, SeqCheck};
use tickwire_engine::event::{Flags, Side};
use tickwire_engine::{Decimal, Event, Reason, Registry, TradeId};

use super::*;

const L2_SNAPSHOT: &str = r#"{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:00.123456Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-04-07T14:30:00.123456Z","price_level":"68900.00","new_quantity":"1.50000000"},{"side":"offer","event_time":"2026-04-07T14:30:00.123456Z","price_level":"68901.00","new_quantity":"0.50000000"}]}]}"#;
const L2_UPDATE: &str = r#"{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:01.456789Z","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2026-04-07T14:30:01.456789Z","price_level":"68901.00","new_quantity":"0.00000000"}]}]}"#;
const TRADES: &str = r#"{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:02.789012Z","sequence_num":5,"events":[{"type":"update","trades":[{"trade_id":"995098700","product_id":"BTC-USD","price":"68900.50","size":"0.00150000","side":"BUY","time":"2026-04-07T14:30:02.789012Z"},{"trade_id":"995098701","product_id":"SOL-USD","price":"142.1","size":"3","side":"SELL","time":"2026-04-07T14:30:02.8Z"}]}]}"#;
const TICKER: &str = r#"{"channel":"ticker","client_id":"","timestamp":"2026-04-07T14:30:03Z","sequence_num":6,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"SOL-USD","price":"142.10","volume_24_h":"1000","low_24_h":"130","high_24_h":"150","low_52_w":"20","high_52_w":"260","price_percent_chg_24_h":"1.5","best_bid":"142.09","best_bid_quantity":"12.5","best_ask":"142.11","best_ask_quantity":"0.75"}]}]}"#;
/// `heartbeat_counter` as a string (venues.md §12) and as a number.
const HEARTBEAT_STR: &str = r#"{"channel":"heartbeats","client_id":"","timestamp":"2026-04-07T14:30:04Z","sequence_num":7,"events":[{"current_time":"2026-04-07 14:30:04.0 +0000 UTC m=+1.0","heartbeat_counter":"3"}]}"#;
const HEARTBEAT_NUM: &str = r#"{"channel":"heartbeats","client_id":"","timestamp":"2026-04-07T14:30:05Z","sequence_num":8,"events":[{"current_time":"2026-04-07 14:30:05.0 +0000 UTC m=+2.0","heartbeat_counter":4}]}"#;
const SUBSCRIPTIONS: &str = r#"{"channel":"subscriptions","client_id":"","timestamp":"2026-04-07T14:30:00Z","sequence_num":1,"events":[{"subscriptions":{"level2":["BTC-USD"],"heartbeats":["heartbeats"]}}]}"#;
const ERROR: &str =
    r#"{"type":"error","message":"too many L2 streams requested in a single session"}"#;

fn d(text: &str) -> Decimal {
    Decimal::parse(text.as_bytes()).unwrap()
}

fn adapter(subs: &[Subscription]) -> (CoinbaseAdapter, Registry) {
    let registry = Registry::new();
    let a = CoinbaseAdapter::new(CoinbaseConfig::default(), subs, &registry).unwrap();
    (a, registry)
}

fn both() -> (CoinbaseAdapter, Registry) {
    adapter(&Subscription::product(
        &["BTC-USD".into(), "SOL-USD".into()],
        &[Channel::Level2, Channel::Trades, Channel::Ticker],
    ))
}

fn decode(a: &mut CoinbaseAdapter, msg: &str) -> Result<(Frame, Vec<Event>), Reason> {
    let mut out = Vec::new();
    let mut buf = msg.as_bytes().to_vec();
    a.decode(&mut buf, 7, &mut out)
        .map_err(|e| e.reason)
        .map(|f| (f, out))
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

/// 2026-04-07T14:30:00Z by hand: 20,550 days from 1970-01-01 to 2026-04-07 (56 years with
/// 14 leap days, then 31 + 28 + 31 + 6 days of 2026), plus 14 h 30 min.
const APR7_1430: u64 = (20_550 * 86_400 + 14 * 3600 + 30 * 60) * 1_000_000_000;

#[test]
fn rfc3339_times_are_exact_nanoseconds() {
    assert_eq!(rfc3339_ns(b"1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(rfc3339_ns(b"2026-04-07T14:30:00Z"), Ok(APR7_1430));
    assert_eq!(
        rfc3339_ns(b"2026-04-07T14:30:00.123456Z"),
        Ok(APR7_1430 + 123_456_000)
    );
    assert_eq!(
        rfc3339_ns(b"2026-04-07T14:30:00.123456789123Z"),
        Ok(APR7_1430 + 123_456_789),
        "digits past ns are dropped"
    );
    assert_eq!(rfc3339_ns(b"2026-04-07T16:30:00+02:00"), Ok(APR7_1430));
    // 2000-02-29 exists (divisible by 400), 2100-02-29 does not.
    assert!(rfc3339_ns(b"2000-02-29T00:00:00Z").is_ok());
    assert_eq!(rfc3339_ns(b"2100-02-29T00:00:00Z"), Err(Reason::Number));
    for bad in [
        &b""[..],
        b"2026-04-07",
        b"2026-04-07T14:30:00",
        b"2026-13-01T00:00:00Z",
        b"2026-04-07T24:00:00Z",
        b"2026-04-07T14:30:00.Z",
        b"1969-12-31T23:59:59Z",
        b"2026-04-07T14:30:00Zjunk",
        b"\xff\xfe",
    ] {
        assert_eq!(rfc3339_ns(bad), Err(Reason::Number), "{bad:?}");
    }
}

#[test]
fn documented_l2_snapshot_and_update() {
    let (mut a, reg) = both();
    let btc = reg.lookup(VENUE, "BTC-USD").unwrap();
    let (f, ev) = decode(&mut a, L2_SNAPSHOT).unwrap();
    let ids = |n| DiffIds {
        first: n,
        last: n,
        prev: None,
    };
    assert_eq!(
        f,
        Frame::BookSnapshot {
            instrument: btc,
            ids: ids(0),
            checksum: None
        }
    );
    assert_eq!(
        levels(&ev),
        vec![
            (Side::Buy, d("68900.00"), d("1.5"), 0),
            (Side::Sell, d("68901.00"), d("0.5"), 0),
        ]
    );
    assert!(ev.iter().all(|e| e.instrument == btc && e.recv_ts == 7));
    assert_eq!(ev[0].exchange_ts, APR7_1430 + 123_456_000);
    assert_eq!(ev[1].flags, Flags::LAST_IN_BATCH);
    let (f, ev) = decode(&mut a, L2_UPDATE).unwrap();
    assert_eq!(
        f,
        Frame::BookDiff {
            instrument: btc,
            ids: ids(1),
            checksum: None
        }
    );
    assert_eq!(levels(&ev), vec![(Side::Sell, d("68901"), d("0"), 1)]);
    assert_eq!(ev[0].exchange_ts, APR7_1430 + 1_456_789_000);
    assert_eq!(a.take_connection_gap(), None);
}

#[test]
fn trades_print_the_aggressor_side_and_keep_their_ids() {
    let (mut a, reg) = both();
    let btc = reg.lookup(VENUE, "BTC-USD").unwrap();
    let sol = reg.lookup(VENUE, "SOL-USD").unwrap();
    let (f, ev) = decode(&mut a, TRADES).unwrap();
    assert_eq!(f, Frame::Market);
    assert_eq!(ev.len(), 2);
    let t0 = ev[0].as_trade().unwrap();
    // Default reading: `side` is the maker's (venues.md §3b for the same engine's feed), so
    // a "BUY" is a resting bid hit by a seller.
    assert_eq!(
        (ev[0].instrument, t0.price, t0.qty, t0.side),
        (btc, d("68900.50"), d("0.0015"), Side::Sell)
    );
    assert_eq!(ev[0].trade_id(), Some(TradeId::Number(995_098_700)));
    assert_eq!(ev[0].exchange_ts, APR7_1430 + 2_789_012_000);
    let t1 = ev[1].as_trade().unwrap();
    assert_eq!((ev[1].instrument, t1.side), (sol, Side::Buy));
    assert_eq!(ev[1].exchange_ts, APR7_1430 + 2_800_000_000);
    // Read as the taker's side, it is printed as sent.
    let registry = Registry::new();
    let config = CoinbaseConfig {
        trade_side: TradeSide::Taker,
        ..CoinbaseConfig::default()
    };
    let subs = [
        Subscription::new("BTC-USD", Channel::Trades),
        Subscription::new("SOL-USD", Channel::Trades),
    ];
    let mut taker = CoinbaseAdapter::new(config, &subs, &registry).unwrap();
    let (_, ev) = decode(&mut taker, TRADES).unwrap();
    assert_eq!(ev[0].as_trade().unwrap().side, Side::Buy);
    assert_eq!(ev[1].as_trade().unwrap().side, Side::Sell);
}

#[test]
fn a_message_listing_trades_newest_first_publishes_them_oldest_first() {
    let (mut a, reg) = both();
    let btc = reg.lookup(VENUE, "BTC-USD").unwrap();
    let trade = |id: u64, price: &str| {
        format!(
            r#"{{"trade_id":"{id}","product_id":"BTC-USD","price":"{price}","size":"1","side":"BUY","time":"2026-04-07T14:30:02Z"}}"#
        )
    };
    let msg = format!(
        r#"{{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:02Z","sequence_num":5,"events":[{{"type":"snapshot","trades":[{},{},{}]}}]}}"#,
        trade(12, "3"),
        trade(11, "2"),
        trade(10, "1")
    );
    let (f, ev) = decode(&mut a, &msg).unwrap();
    assert_eq!(f, Frame::Market);
    let got: Vec<(tickwire_engine::InstrumentId, Option<TradeId>, Decimal)> = ev
        .iter()
        .map(|e| (e.instrument, e.trade_id(), e.as_trade().unwrap().price))
        .collect();
    assert_eq!(
        got,
        [
            (btc, Some(TradeId::Number(10)), d("1")),
            (btc, Some(TradeId::Number(11)), d("2")),
            (btc, Some(TradeId::Number(12)), d("3")),
        ]
    );
}

#[test]
fn tickers_are_bbos_heartbeats_and_answers_carry_no_events() {
    let (mut a, reg) = both();
    let sol = reg.lookup(VENUE, "SOL-USD").unwrap();
    let (f, ev) = decode(&mut a, TICKER).unwrap();
    assert_eq!(f, Frame::Market);
    let b = ev[0].as_bbo().unwrap();
    assert_eq!(
        (
            ev[0].instrument,
            b.bid_price,
            b.bid_qty,
            b.ask_price,
            b.ask_qty
        ),
        (sol, d("142.09"), d("12.5"), d("142.11"), d("0.75"))
    );
    assert_eq!(ev[0].exchange_ts, APR7_1430 + 3_000_000_000);
    for hb in [HEARTBEAT_STR, HEARTBEAT_NUM] {
        assert_eq!(decode(&mut a, hb).unwrap(), (Frame::Control, vec![]));
    }
    // Connect: heartbeats + one request per channel, four answers in all.
    let mut frames = Vec::new();
    a.connect_frames(&mut frames);
    assert_eq!(a.pending_acks(), 4);
    assert_eq!(
        decode(&mut a, SUBSCRIPTIONS).unwrap().0,
        Frame::Ack { id: 1 }
    );
    assert_eq!(a.pending_acks(), 3);
    assert_eq!(
        decode(&mut a, ERROR).unwrap().0,
        Frame::SubscriptionError {
            id: Some(2),
            code: 0
        }
    );
    assert_eq!(a.pending_acks(), 2);
    let status = r#"{"channel":"status","client_id":"","timestamp":"2026-04-07T14:30:00Z","sequence_num":2,"events":[]}"#;
    assert_eq!(decode(&mut a, status).unwrap().0, Frame::Unknown);
}

/// Reverses every object's keys through an independent parser (simd-json's owned value
/// keeps insertion order).
fn reversed(msg: &str) -> String {
    fn rev(v: &simd_json::OwnedValue) -> String {
        match v {
            simd_json::OwnedValue::Object(o) => {
                let mut kv: Vec<_> = o.iter().collect();
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
            other => simd_json::to_string(other).unwrap(),
        }
    }
    let mut bytes = msg.as_bytes().to_vec();
    rev(&simd_json::to_owned_value(&mut bytes).unwrap())
}

#[test]
fn key_order_does_not_matter() {
    for msg in [L2_SNAPSHOT, L2_UPDATE, TRADES, TICKER, HEARTBEAT_STR] {
        let (mut a, _r) = both();
        let (mut b, _r2) = both();
        let want = decode(&mut a, msg).unwrap();
        let got = decode(&mut b, &reversed(msg)).unwrap();
        assert_eq!(want, got, "{msg}");
    }
}

#[test]
fn malformed_messages_are_typed_errors_and_count() {
    let cases: Vec<(String, Reason)> = vec![
        (
            L2_SNAPSHOT[..L2_SNAPSHOT.len() - 3].to_owned(),
            Reason::Json,
        ),
        ("{".to_owned(), Reason::Json),
        ("\u{0}".to_owned(), Reason::Json),
        (
            L2_UPDATE.replace("\"0.00000000\"", "\"abc\""),
            Reason::Number,
        ),
        (
            L2_UPDATE.replace("\"0.00000000\"", "\"-1\""),
            Reason::Number,
        ),
        (
            L2_UPDATE.replace("\"0.00000000\"", "\"1e999\""),
            Reason::Number,
        ),
        (L2_UPDATE.replace("\"offer\"", "\"middle\""), Reason::Schema),
        (L2_UPDATE.replace("\"0.00000000\"", "0.5"), Reason::Schema),
        (L2_UPDATE.replace("\"sequence_num\":1,", ""), Reason::Schema),
        (
            L2_UPDATE.replace("BTC-USD", "DOGE-USD"),
            Reason::UnknownSymbol,
        ),
        (
            L2_UPDATE.replace("\"update\"", "\"replace\""),
            Reason::Schema,
        ),
        (
            L2_UPDATE.replace(
                "2026-04-07T14:30:01.456789Z\",\"sequence",
                "yesterday\",\"sequence",
            ),
            Reason::Number,
        ),
        (TRADES.replace("\"BUY\"", "\"UP\""), Reason::Schema),
        (
            TRADES.replace("\"trade_id\":\"995098700\",", ""),
            Reason::Schema,
        ),
        (
            // Two products in one l2 message: one book frame a message.
            L2_UPDATE.replace(
                "}]}]}",
                "}]},{\"type\":\"update\",\"product_id\":\"SOL-USD\",\"updates\":[]}]}",
            ),
            Reason::Schema,
        ),
    ];
    for (msg, want) in &cases {
        let (mut a, _r) = both();
        assert_eq!(decode(&mut a, msg).map(|_| ()), Err(*want), "{msg}");
        let s = a.decode_stats();
        let counted = match want {
            Reason::Json => s.json_errors,
            Reason::Number => s.number_errors,
            Reason::UnknownSymbol => s.unknown_symbols,
            _ => s.schema_errors,
        };
        assert_eq!(counted, 1, "{msg}");
        assert_eq!(
            a.expected_sequence(),
            None,
            "a failed message does not count as seen"
        );
    }
    // Unknown fields are counted, not errors.
    let (mut a, _r) = both();
    let extra = L2_UPDATE.replace(
        "\"client_id\":\"\",",
        "\"client_id\":\"\",\"new_field\":[1,{}],",
    );
    assert!(decode(&mut a, &extra).is_ok());
    assert_eq!(a.decode_stats().unknown_fields, 1);
}

#[test]
fn a_skipped_sequence_num_is_a_connection_gap_whatever_the_channel() {
    let (mut a, _r) = both();
    let at = |n: u64, msg: &str| {
        let from = msg.find("\"sequence_num\":").unwrap() + "\"sequence_num\":".len();
        let to = from + msg[from..].find(',').unwrap();
        format!("{}{}{}", &msg[..from], n, &msg[to..])
    };
    decode(&mut a, &at(10, L2_SNAPSHOT)).unwrap();
    assert_eq!(
        a.take_connection_gap(),
        None,
        "the first number sets the count"
    );
    decode(&mut a, &at(11, HEARTBEAT_STR)).unwrap();
    decode(&mut a, &at(12, TRADES)).unwrap();
    assert_eq!(a.take_connection_gap(), None);
    // 13 (whatever it was) is missing: the heartbeat that follows shows it.
    decode(&mut a, &at(14, HEARTBEAT_NUM)).unwrap();
    assert_eq!(a.take_connection_gap(), Some(13));
    assert_eq!(a.take_connection_gap(), None, "reported once");
    // A repeat neither gaps nor moves the count back.
    decode(&mut a, &at(14, HEARTBEAT_NUM)).unwrap();
    decode(&mut a, &at(15, L2_UPDATE)).unwrap();
    assert_eq!(a.take_connection_gap(), None);
    // A message that cannot be read is lost: the next number shows it.
    let _ = decode(&mut a, &at(16, L2_UPDATE).replace("BTC-USD", "XXX"));
    decode(&mut a, &at(17, L2_UPDATE)).unwrap();
    assert_eq!(a.take_connection_gap(), Some(16));
    // A new connection counts afresh.
    a.connect_frames(&mut Vec::new());
    decode(&mut a, &at(0, HEARTBEAT_STR)).unwrap();
    assert_eq!(a.take_connection_gap(), None);
}

#[test]
fn per_book_rule_only_asks_updates_to_move_forward() {
    let (a, _r) = both();
    let ids = |n| DiffIds {
        first: n,
        last: n,
        prev: None,
    };
    // Other channels and products share the counter: a book's own updates skip numbers.
    assert_eq!(a.next_diff(&ids(10), &ids(11)), SeqCheck::Apply);
    assert_eq!(a.next_diff(&ids(10), &ids(57)), SeqCheck::Apply);
    assert_eq!(a.next_diff(&ids(10), &ids(10)), SeqCheck::Stale);
    assert_eq!(a.next_diff(&ids(10), &ids(3)), SeqCheck::Stale);
    assert_eq!(a.first_diff(10, &ids(11)), SeqCheck::Apply);
}

#[test]
fn requests_subscribe_heartbeats_first_and_one_frame_per_channel() {
    let (mut a, reg) = both();
    let mut frames = Vec::new();
    a.connect_frames(&mut frames);
    let text: Vec<String> = frames
        .into_iter()
        .map(|f| String::from_utf8(f).unwrap())
        .collect();
    assert_eq!(
        text,
        [
            r#"{"type":"subscribe","channel":"heartbeats"}"#,
            r#"{"type":"subscribe","product_ids":["BTC-USD","SOL-USD"],"channel":"level2"}"#,
            r#"{"type":"subscribe","product_ids":["BTC-USD","SOL-USD"],"channel":"market_trades"}"#,
            r#"{"type":"subscribe","product_ids":["BTC-USD","SOL-USD"],"channel":"ticker"}"#,
        ]
    );
    // Every frame is JSON an independent parser reads.
    for t in &text {
        let mut b = t.clone().into_bytes();
        simd_json::to_owned_value(&mut b).unwrap();
    }
    let sol = reg.lookup(VENUE, "SOL-USD").unwrap();
    let mut frames = Vec::new();
    a.resubscribe(sol, &mut frames);
    let text: Vec<String> = frames
        .into_iter()
        .map(|f| String::from_utf8(f).unwrap())
        .collect();
    assert_eq!(
        text,
        [
            r#"{"type":"unsubscribe","product_ids":["SOL-USD"],"channel":"level2"}"#,
            r#"{"type":"subscribe","product_ids":["SOL-USD"],"channel":"level2"}"#,
        ]
    );
    assert_eq!(a.books().len(), 2);
    assert_eq!(
        Subscription::from_topic("level2:sol-usd"),
        Some(Subscription::new("SOL-USD", Channel::Level2))
    );
    assert_eq!(Subscription::from_topic("level2:SOL USD"), None);
    assert_eq!(Subscription::from_topic("candles:SOL-USD"), None);
}

#[test]
fn run_time_level2_subscribes_stop_at_the_connection_limit() {
    let config = CoinbaseConfig {
        max_l2_products: 2,
        ..CoinbaseConfig::default()
    };
    let registry = Registry::new();
    let mut a = CoinbaseAdapter::new(
        config.clone(),
        &[Subscription::new("A-USD", Channel::Level2)],
        &registry,
    )
    .unwrap();
    let mut out = Vec::new();
    a.subscribe(
        &[
            Subscription::new("B-USD", Channel::Level2),
            Subscription::new("C-USD", Channel::Level2),
            Subscription::new("C-USD", Channel::Trades),
        ],
        &mut out,
    );
    let l2: Vec<_> = a
        .subscriptions()
        .iter()
        .filter(|s| s.channel == Channel::Level2)
        .map(|s| s.product.as_str())
        .collect();
    assert_eq!(l2, ["A-USD", "B-USD"]);
    assert_eq!(a.subscriptions().len(), 3);
    let three: Vec<_> = ["A-USD", "B-USD", "C-USD"]
        .iter()
        .map(|p| Subscription::new(p, Channel::Level2))
        .collect();
    assert_eq!(
        CoinbaseAdapter::new(config, &three, &registry).err(),
        Some(PlanError::TooManyL2 { count: 3, max: 2 })
    );
}

/// An independent check of a plan: every subscription on exactly one connection, a
/// product's subscriptions together, the limits kept, no connection more than needed.
fn check_plan(
    subs: &[Subscription],
    plan: &[Vec<Subscription>],
    max_l2: usize,
    max_products: usize,
) {
    let mut seen: Vec<&Subscription> = plan.iter().flatten().collect();
    seen.sort();
    let mut want: Vec<&Subscription> = subs.iter().collect();
    want.sort();
    want.dedup();
    assert_eq!(seen, want, "each subscription once");
    for g in plan {
        let mut products: Vec<&str> = g.iter().map(|s| s.product.as_str()).collect();
        products.sort();
        products.dedup();
        let l2 = g.iter().filter(|s| s.channel == Channel::Level2).count();
        assert!(
            l2 <= max_l2 && products.len() <= max_products,
            "{l2} l2, {} products",
            products.len()
        );
        for p in &products {
            let elsewhere = plan
                .iter()
                .filter(|h| h.iter().any(|s| &s.product == p))
                .count();
            assert_eq!(elsewhere, 1, "{p} on one connection");
        }
    }
    let l2_products = {
        let mut v: Vec<&str> = subs
            .iter()
            .filter(|s| s.channel == Channel::Level2)
            .map(|s| s.product.as_str())
            .collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let mut products: Vec<&str> = subs.iter().map(|s| s.product.as_str()).collect();
    products.sort();
    products.dedup();
    let least = l2_products
        .div_ceil(max_l2)
        .max(products.len().div_ceil(max_products))
        .max(1);
    assert!(
        plan.len() <= least + 1,
        "{} connections for a least of {least}",
        plan.len()
    );
}

#[test]
fn the_planner_shards_level2_products_by_the_per_connection_limit() {
    let products: Vec<String> = (0..40).map(|i| format!("P{i}-USD")).collect();
    let subs = Subscription::product(&products, &[Channel::Level2, Channel::Trades]);
    let plan = plan_connections(&subs, 16, 100);
    // 40 books at 16 a connection: 16, 16, 8.
    let sizes: Vec<usize> = plan
        .iter()
        .map(|g| g.iter().filter(|s| s.channel == Channel::Level2).count())
        .collect();
    assert_eq!(sizes, [16, 16, 8]);
    check_plan(&subs, &plan, 16, 100);
    // The default limit is the documented one.
    assert_eq!(
        plan_connections(&subs, L2_PRODUCTS_PER_CONNECTION, PRODUCTS_PER_CONNECTION).len(),
        3
    );
    // Products without a book do not use the level2 budget.
    let mut mixed = Subscription::product(&products[..20], &[Channel::Level2]);
    mixed.extend(Subscription::product(&products[20..], &[Channel::Ticker]));
    let plan = plan_connections(&mixed, 16, 100);
    check_plan(&mixed, &plan, 16, 100);
    assert_eq!(plan.len(), 2);
    // Generated sets: limits kept, everything placed once.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        let mut subs = Vec::new();
        let n = (x % 60) as usize;
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ch = [Channel::Level2, Channel::Trades, Channel::Ticker][(x % 3) as usize];
            subs.push(Subscription::new(&format!("Q{}-USD", i % 37), ch));
        }
        let (max_l2, max_products) = (1 + (x % 20) as usize, 1 + (x % 50) as usize);
        let plan = plan_connections(&subs, max_l2, max_products);
        if subs.is_empty() {
            assert!(plan.is_empty());
        } else {
            check_plan(&subs, &plan, max_l2, max_products);
        }
    }
}

#[test]
fn the_launcher_admits_multi_megabyte_snapshots_and_plans_by_the_limit() {
    let feed = CoinbaseFeed::new()
        .products(&(0..20).map(|i| format!("p{i}-usd")).collect::<Vec<_>>())
        .channels(&[Channel::Level2]);
    assert!(feed.connection_options().max_message >= 100 << 20);
    assert!(feed.connection_options().max_frame >= 100 << 20);
    assert_eq!(feed.plan().unwrap().len(), 2);
    assert_eq!(
        feed.clone()
            .max_message(1 << 20)
            .connection_options()
            .max_message,
        1 << 20
    );
    assert_eq!(
        CoinbaseFeed::new().plan().err(),
        Some(FeedError::NoSubscriptions)
    );
    assert_eq!(
        CoinbaseFeed::new()
            .products(&["BTC USD"])
            .channels(&[Channel::Trades])
            .plan()
            .err(),
        Some(FeedError::InvalidProduct { index: 0 })
    );
}

/// The literal-compare reader of updates in the documented shape and the general reader
/// (taken when the shape differs: spaces, another key order) give the same events, on
/// generated texts (prices and sizes of every shape, exponents and bad numbers included).
#[test]
fn the_fast_update_reader_agrees_with_the_general_one() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let alphabet = b"0123456789.0123456789e-";
    let num = |x: &mut u64| -> String {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let len = 1 + (*x % 14) as usize;
        (0..len)
            .map(|k| alphabet[((*x >> (4 * k)) % alphabet.len() as u64) as usize] as char)
            .collect()
    };
    for _ in 0..2000 {
        let (p, q) = (num(&mut x), num(&mut x));
        let side = if x % 2 == 0 { "bid" } else { "offer" };
        // The usual 27-byte time, a shorter one, one with an escape (general path).
        let time = [
            "2026-04-07T14:30:00.123456Z",
            "2026-04-07T14:30:00Z",
            r"2026-04-07T14:30:00.123456Z",
        ][(x % 3) as usize];
        let fast = format!(
            r#"{{"side":"{side}","event_time":"{time}","price_level":"{p}","new_quantity":"{q}"}}"#
        );
        let general = format!(
            r#"{{"new_quantity": "{q}", "price_level": "{p}", "event_time": "{time}", "side": "{side}"}}"#
        );
        let msg = |u: &str| {
            format!(
                r#"{{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:00Z","sequence_num":3,"events":[{{"type":"update","product_id":"BTC-USD","updates":[{u},{u}]}}]}}"#
            )
        };
        let (mut a, _r) = both();
        let (mut b, _r2) = both();
        assert_eq!(
            decode(&mut a, &msg(&fast)),
            decode(&mut b, &msg(&general)),
            "{fast}"
        );
    }
}
