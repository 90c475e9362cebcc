//! Steady state allocates nothing on Coinbase: decode + connection-sequence check + book
//! sync + publish (FeedHandler as the I/O thread runs it) and the consumer's book, per
//! message, after warm-up. The stream is generated here: a whole-book snapshot of 4,000
//! levels (re-sent mid-stream), updates, trades, tickers, heartbeats and subscription
//! answers, all numbered by one `sequence_num`. Then the same stream on two failover lines
//! (A/B): following the leading line's books allocates nothing either.

use std::sync::Mutex;
use tickwire_engine::Registry;

use tickwire_engine::adapter::{
    ArbitratedFeed, ArbitrationConfig, FeedConfig, FeedHandler, LineFactory, QueuedSnapshots,
    SnapshotSource,
};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Leg, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::channel;
use tickwire_feeds::coinbase::{Channel, CoinbaseAdapter, CoinbaseConfig, Subscription};
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

/// The allocation count is process-wide: one measuring test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn update(side: &str, p: u64, q: u64) -> String {
    format!(
        r#"{{"side":"{side}","event_time":"2026-04-07T14:30:00.123456Z","price_level":"{}.{:02}","new_quantity":"{}.{:03}"}}"#,
        p / 100,
        p % 100,
        q / 1000,
        q % 1000
    )
}

fn envelope(channel: &str, seq: &mut u64, events: &str) -> String {
    let n = *seq;
    *seq += 1;
    format!(
        r#"{{"channel":"{channel}","client_id":"","timestamp":"2026-04-07T14:30:{:02}.{:06}Z","sequence_num":{n},"events":[{events}]}}"#,
        n % 60,
        n % 1_000_000
    )
}

fn snapshot(x: &mut u64, seq: &mut u64) -> String {
    let mut u: Vec<String> = (0..2000)
        .map(|i| update("bid", 99_999 - i, 1 + next(x) % 9000))
        .collect();
    u.extend((0..2000).map(|i| update("offer", 100_000 + i, 1 + next(x) % 9000)));
    let events = format!(
        r#"{{"type":"snapshot","product_id":"BTC-USD","updates":[{}]}}"#,
        u.join(",")
    );
    envelope("l2_data", seq, &events)
}

fn stream(n: usize) -> Vec<String> {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut seq = 0;
    let mut out = vec![
        envelope(
            "subscriptions",
            &mut seq,
            r#"{"subscriptions":{"heartbeats":["heartbeats"]}}"#,
        ),
        snapshot(&mut x, &mut seq),
    ];
    for i in 0..n {
        match i % 10 {
            0..=4 => {
                let mut u = Vec::new();
                let mut prices = Vec::new();
                for _ in 0..1 + next(&mut x) % 4 {
                    let bid = next(&mut x) % 2 == 0;
                    let p = if bid { 99_960 } else { 100_000 } + next(&mut x) % 40;
                    if prices.contains(&p) {
                        continue;
                    }
                    prices.push(p);
                    let q = if next(&mut x) % 3 == 0 {
                        0
                    } else {
                        1 + next(&mut x) % 5000
                    };
                    u.push(update(if bid { "bid" } else { "offer" }, p, q));
                }
                let events = format!(
                    r#"{{"type":"update","product_id":"BTC-USD","updates":[{}]}}"#,
                    u.join(",")
                );
                out.push(envelope("l2_data", &mut seq, &events));
            }
            5 | 6 => {
                let events = format!(
                    r#"{{"type":"update","trades":[{{"trade_id":"{}","product_id":"BTC-USD","price":"1000.{:02}","size":"0.0{}","side":"{}","time":"2026-04-07T14:30:02.789012Z"}}]}}"#,
                    995_098_700 + i,
                    i % 40,
                    1 + i % 9,
                    if i % 2 == 0 { "BUY" } else { "SELL" }
                );
                out.push(envelope("market_trades", &mut seq, &events));
            }
            7 => {
                let events = format!(
                    r#"{{"type":"update","tickers":[{{"type":"ticker","product_id":"SOL-USD","price":"142.1","volume_24_h":"1","low_24_h":"1","high_24_h":"2","low_52_w":"1","high_52_w":"2","price_percent_chg_24_h":"0.1","best_bid":"142.{:02}","best_bid_quantity":"1.5","best_ask":"143.00","best_ask_quantity":"2"}}]}}"#,
                    i % 90 + 10
                );
                out.push(envelope("ticker", &mut seq, &events));
            }
            8 => {
                let events = format!(
                    r#"{{"current_time":"2026-04-07 14:30:04.0 +0000 UTC","heartbeat_counter":"{i}"}}"#
                );
                out.push(envelope("heartbeats", &mut seq, &events));
            }
            _ => {
                if i % 2000 == 9 {
                    // The whole book again (a resubscribe's answer) replaces the book.
                    out.push(snapshot(&mut x, &mut seq));
                } else {
                    out.push(envelope(
                        "subscriptions",
                        &mut seq,
                        r#"{"subscriptions":{"level2":["BTC-USD"]}}"#,
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_allocation_per_message_after_warm_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The counter does see allocations (one test: the count is process-wide).
    let before = allocations();
    count_this_thread(true);
    let mut v: Vec<u8> = Vec::with_capacity(100);
    v.push(1);
    count_this_thread(false);
    assert_eq!(v.len(), 1);
    assert!(allocations() > before);

    let registry = Registry::new();
    let mut subs =
        Subscription::product(&["BTC-USD".to_owned()], &[Channel::Level2, Channel::Trades]);
    subs.push(Subscription::new("SOL-USD", Channel::Ticker));
    let config = CoinbaseConfig {
        depth: 5000,
        ..CoinbaseConfig::default()
    };
    let adapter = CoinbaseAdapter::new(config, &subs, &registry).unwrap();
    let btc = registry.lookup("coinbase", "BTC-USD").unwrap();
    let mut handler = FeedHandler::new(
        adapter,
        Box::new(QueuedSnapshots::new()),
        FeedConfig::default(),
    );
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut consumer_book = Book::new(BookConfig::with_depth(5000));
    handler.on_connect(&mut Context::new(
        0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let lines: Vec<Vec<u8>> = stream(40_000).into_iter().map(String::into_bytes).collect();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let half = lines.len() / 2;
    let (mut measured, mut allocs, mut bbos, mut trades) = (0u64, 0u64, 0u64, 0u64);
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
                    EventKind::Trade => trades += 1,
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
    assert_eq!(
        (s.gaps, s.connection_gaps, s.decode_errors),
        (0, 0, 0),
        "{s:?}"
    );
    assert!(handler.in_sync(btc));
    assert!(consumer_book.is_valid());
    assert!(bbos > 1000 && trades > 1000);
    eprintln!(
        "{measured} messages, {allocs} allocations, {} snapshots",
        s.snapshots_applied
    );
    assert!(measured > 20_000);
    assert!(s.snapshots_applied > 15);
    assert_eq!(allocs, 0);
}

/// Line B runs this many messages behind line A.
const LAG: usize = 3;

#[test]
fn two_failover_lines_allocate_nothing_per_message_after_warm_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let registry = Registry::new();
    let mut subs =
        Subscription::product(&["BTC-USD".to_owned()], &[Channel::Level2, Channel::Trades]);
    subs.push(Subscription::new("SOL-USD", Channel::Ticker));
    let config = CoinbaseConfig {
        depth: 5000,
        ..CoinbaseConfig::default()
    };
    let r = registry.clone();
    let factory: LineFactory<CoinbaseAdapter> = Box::new(move |_| {
        let adapter = CoinbaseAdapter::new(config.clone(), &subs, &r).ok()?;
        Some((
            adapter,
            Box::new(QueuedSnapshots::new()) as Box<dyn SnapshotSource>,
        ))
    });
    let mut feed = ArbitratedFeed::new(
        factory,
        2,
        FeedConfig::default(),
        ArbitrationConfig::default(),
    )
    .unwrap();
    let btc = registry.lookup("coinbase", "BTC-USD").unwrap();
    let (p, mut consumer) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![p]);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    for leg in 0..2 {
        let mut cx = Context::new(
            0,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        )
        .for_leg(Leg(leg), 2);
        feed.on_connect(&mut cx);
    }
    let lines: Vec<Vec<u8>> = stream(40_000).into_iter().map(String::into_bytes).collect();
    let is_update = |f: &[u8]| {
        f.starts_with(br#"{"channel":"l2_data""#)
            && f.windows(16).any(|w| w == br#""type":"update","#)
    };
    let mut consumer_book = Book::new(BookConfig::with_depth(5000));
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let half = lines.len() / 2;
    let (mut measured, mut allocs, mut statuses) = (0u64, 0u64, Vec::new());
    let mut dropped = false;
    for i in 0..lines.len() + LAG {
        for (leg, n) in [(0u32, Some(i)), (1, i.checked_sub(LAG))] {
            let Some(frame) = n.and_then(|n| lines.get(n)) else {
                continue;
            };
            // Line A loses one book update in the warm-up half: its `sequence_num` breaks,
            // it resyncs on its own (the stream re-sends the book), line B takes over.
            if leg == 0 && !dropped && i >= 1000 && is_update(frame) {
                dropped = true;
                continue;
            }
            buf.clear();
            buf.extend_from_slice(frame);
            let measure = n.is_some_and(|n| n >= half);
            let before = allocations();
            count_this_thread(measure);
            {
                let mut cx = Context::new(
                    1_000 + i as u64 * 1_000_000 + u64::from(leg) * 1_000,
                    ConnectionId(1),
                    &mut outbox,
                    &mut publisher,
                    &mut actions,
                )
                .for_leg(Leg(leg), 2);
                feed.on_message(Message::Text(&mut buf), &mut cx);
                while let Some(e) = consumer.pop() {
                    if e.instrument == btc && e.kind() == EventKind::BookLevel {
                        consumer_book.apply_event(&e).unwrap();
                    } else if let Some(s) = e.as_status() {
                        statuses.push(s.kind);
                    }
                }
            }
            count_this_thread(false);
            if measure {
                measured += 1;
                allocs += allocations() - before;
            }
        }
    }
    let report = feed.report();
    eprintln!("{measured} messages, {allocs} allocations; {report:?}");
    assert!(
        !statuses
            .iter()
            .any(|k| matches!(k, StatusKind::Gap | StatusKind::Resync)),
        "{statuses:?}"
    );
    assert_eq!(report.failovers, 1, "line B took over once");
    assert_eq!(feed.line(0).unwrap().stats().connection_gaps, 1);
    assert!(feed.line(0).unwrap().in_sync(btc), "line A resynced");
    assert!(feed.arbiter().in_sync(btc));
    // The consumer's book is the leading line's (line B's).
    let line_b = feed.line(1).unwrap().book(btc).unwrap();
    assert!(consumer_book.is_valid());
    assert!(consumer_book.bids(usize::MAX).eq(line_b.bids(usize::MAX)));
    assert!(consumer_book.asks(usize::MAX).eq(line_b.asks(usize::MAX)));
    assert!(measured > 40_000);
    assert_eq!(allocs, 0);
}
