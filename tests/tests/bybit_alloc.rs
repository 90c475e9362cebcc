//! Steady state allocates nothing on Bybit: decode + sequence check + validating book +
//! publish (FeedHandler as the I/O thread runs it) and the consumer's book, per message,
//! after warm-up. The stream is generated here: book snapshots (one re-sent mid-stream),
//! deltas, trades (numeric ids on spot, UUIDs on linear), linear ticker snapshot and deltas,
//! spot level-1 BBOs, pongs and acks.

use tickwire_engine::Registry;
use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::EventKind;
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_feeds::bybit::{BybitAdapter, BybitConfig, Channel, Depth, Market, Subscription};
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn level(x: &mut u64, bid: bool) -> String {
    let p = if bid { 99_960 } else { 100_000 } + next(x) % 40;
    let q = if next(x) % 3 == 0 {
        0
    } else {
        1 + next(x) % 5000
    };
    format!(
        "[\"{}.{:02}\",\"{}.{:03}\"]",
        p / 100,
        p % 100,
        q / 1000,
        q % 1000
    )
}

fn book(typ: &str, u: u64, bids: &[String], asks: &[String]) -> String {
    format!(
        r#"{{"topic":"orderbook.50.BTCUSDT","type":"{typ}","ts":{},"data":{{"s":"BTCUSDT","b":[{}],"a":[{}],"u":{u},"seq":{}}},"cts":1}}"#,
        1_700_000_000_000 + u,
        bids.join(","),
        asks.join(","),
        u * 2
    )
}

fn stream(market: Market, n: usize) -> Vec<String> {
    let mut x = 0x1234_5678_9abc_def1u64;
    let full = |x: &mut u64, bid: bool| -> Vec<String> {
        let mut v: Vec<String> = (0..40)
            .map(|i| {
                let p = if bid { 99_999 - i } else { 100_000 + i };
                format!(
                    "[\"{}.{:02}\",\"{}.{:03}\"]",
                    p / 100,
                    p % 100,
                    1 + next(x) % 9,
                    next(x) % 1000
                )
            })
            .collect();
        v.truncate(40);
        v
    };
    let mut u = 5000;
    let mut out = vec![book(
        "snapshot",
        u,
        &full(&mut x, true),
        &full(&mut x, false),
    )];
    for i in 0..n {
        match i % 10 {
            0..=4 => {
                u += 1;
                let b: Vec<String> = (0..1 + next(&mut x) % 3).map(|_| level(&mut x, true)).collect();
                let a: Vec<String> = (0..1 + next(&mut x) % 3).map(|_| level(&mut x, false)).collect();
                // One change per price per message (the venue's rule).
                let dedup = |v: Vec<String>| {
                    let mut seen = Vec::new();
                    v.into_iter()
                        .filter(|l| {
                            let p = l.split('"').nth(1).unwrap_or("").to_owned();
                            if seen.contains(&p) { false } else { seen.push(p); true }
                        })
                        .collect::<Vec<_>>()
                };
                out.push(book("delta", u, &dedup(b), &dedup(a)));
            }
            5 | 6 => {
                let id = match market {
                    Market::Spot => format!("{}", 2_290_000_000_007_764_263u64 + i as u64),
                    Market::Linear => format!("9dc75fca-4bdd-4773-9f78-{:012x}", i),
                };
                out.push(format!(
                    r#"{{"topic":"publicTrade.BTCUSDT","ts":{t},"type":"snapshot","data":[{{"T":{t},"s":"BTCUSDT","S":"{}","v":"0.0{}","p":"1000.{:02}","L":"PlusTick","i":"{id}","BT":false,"seq":{i}}}]}}"#,
                    if i % 2 == 0 { "Buy" } else { "Sell" },
                    1 + i % 9,
                    i % 40,
                    t = 1_700_000_000_000u64 + i as u64
                ));
            }
            7 => match market {
                Market::Linear => out.push(format!(
                    r#"{{"topic":"tickers.BTCUSDT","type":"delta","data":{{"symbol":"BTCUSDT","markPrice":"1000.1","bid1Price":"999.{:02}","bid1Size":"1.5"}},"cs":{i},"ts":1700000000000}}"#,
                    50 + i % 40
                )),
                Market::Spot => out.push(format!(
                    r#"{{"topic":"orderbook.1.ETHUSDT","ts":1700000000000,"type":"snapshot","data":{{"s":"ETHUSDT","b":[["99.{:02}","1.5"]],"a":[["100.01","2"]],"u":{i},"seq":{i}}},"cts":1}}"#,
                    i % 90 + 10
                )),
            },
            8 => out.push(r#"{"success":true,"ret_msg":"pong","conn_id":"c1","op":"ping"}"#.to_owned()),
            _ => {
                if i % 1000 == 9 {
                    // A snapshot re-sent mid-stream replaces the book.
                    out.push(book("snapshot", u, &full(&mut x, true), &full(&mut x, false)));
                } else {
                    out.push(r#"{"success":true,"ret_msg":"","conn_id":"c1","req_id":"77","op":"subscribe"}"#.to_owned());
                }
            }
        }
    }
    if market == Market::Linear {
        out.insert(1, r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","bid1Price":"999.50","bid1Size":"1","ask1Price":"1000.00","ask1Size":"2"},"cs":1,"ts":1700000000000}"#.to_owned());
    }
    out
}

/// Replays the stream; returns (messages measured, allocations) over the second half.
fn steady_state(market: Market) -> (u64, u64, u64) {
    let registry = Registry::new();
    let mut subs = Subscription::product(
        &["BTCUSDT"],
        &[Channel::Book(Depth::L50), Channel::Trade, Channel::Bbo],
    );
    if market == Market::Spot {
        subs.push(Subscription::new("ETHUSDT", Channel::Bbo));
    }
    let adapter = BybitAdapter::new(BybitConfig::for_market(market), &subs, &registry).unwrap();
    let btc = registry.lookup(market.venue(), "BTCUSDT").unwrap();
    let mut handler = FeedHandler::new(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut consumer_book = Book::new(BookConfig::with_depth(50));
    handler.on_connect(&mut Context::new(
        0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let lines: Vec<Vec<u8>> = stream(market, 40_000)
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let half = lines.len() / 2;
    let (mut measured, mut allocs, mut bbos) = (0, 0, 0);
    for (i, frame) in lines.iter().enumerate() {
        buf.clear();
        buf.extend_from_slice(frame);
        let measure = i >= half;
        let before = allocations();
        count_this_thread(measure);
        {
            let mut cx = Context::new(
                1_000 + i as u64 * 1_000_000,
                ConnectionId(1),
                &mut outbox,
                &mut publisher,
                &mut actions,
            );
            handler.on_message(Message::Text(&mut buf), &mut cx);
            while let Some(e) = consumer.pop() {
                match e.kind() {
                    EventKind::BookLevel | EventKind::Status if e.instrument == btc => {
                        consumer_book.apply_event(&e).unwrap();
                    }
                    EventKind::Bbo => bbos += 1,
                    _ => {}
                }
            }
        }
        count_this_thread(false);
        if measure {
            measured += 1;
            allocs += allocations() - before;
        }
    }
    let s = handler.stats();
    assert_eq!((s.gaps, s.decode_errors), (0, 0), "{s:?}");
    assert!(handler.in_sync(btc));
    assert!(consumer_book.is_valid());
    assert!(bbos > 1000);
    (measured, allocs, s.snapshots_applied)
}

#[test]
fn no_allocation_per_message_after_warm_up() {
    // The counter does see allocations (one test: the count is process-wide).
    let before = allocations();
    count_this_thread(true);
    let mut v: Vec<u8> = Vec::with_capacity(100);
    v.push(1);
    count_this_thread(false);
    assert_eq!(v.len(), 1);
    assert!(allocations() > before);
    for market in [Market::Spot, Market::Linear] {
        let (messages, allocs, snapshots) = steady_state(market);
        eprintln!("{market:?}: {messages} messages, {allocs} allocations, {snapshots} snapshots");
        assert!(messages > 20_000);
        assert!(snapshots > 30);
        assert_eq!(allocs, 0, "{market:?}");
    }
}
