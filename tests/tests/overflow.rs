//! A consumer that falls behind: events are dropped, never block the socket, and the
//! consumer learns the exact number dropped from an `Overflow` status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

#[test]
fn overflow_reports_the_exact_drop_count() {
    const CAP: usize = 64;
    const N: u64 = 1000;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, N).unwrap();
        // Wait for the test to drain the ring, then send one more.
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_text("5000").unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(CAP);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    // Do not consume until the engine has handled every message.
    let deadline = Instant::now() + Duration::from_secs(30);
    while observed.messages.load(Ordering::SeqCst) < N {
        assert!(Instant::now() < deadline, "messages not handled");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Connected status + N trades were published into a ring of CAP.
    let mut delivered = Vec::new();
    while let Some(e) = consumer.pop() {
        delivered.push(e);
    }
    assert_eq!(delivered.len(), CAP);
    assert_eq!(
        delivered[0].as_status().map(|s| s.kind),
        Some(StatusKind::Connected)
    );
    let dropped = (N + 1) - CAP as u64;
    assert_eq!(consumer.stats().dropped(), dropped);
    go_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = Vec::new();
    while next.len() < 2 {
        assert!(Instant::now() < deadline, "no event after overflow");
        if let Some(e) = consumer.pop() {
            next.push(e);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let s = next[0].as_status().expect("overflow status first");
    assert_eq!((s.kind, s.value), (StatusKind::Overflow, dropped));
    assert_eq!(next[1].as_trade().map(|t| t.id), Some(5000));
    let stats = engine.join().unwrap();
    assert_eq!(stats.dropped_events, dropped);
    assert_eq!(stats.messages, N + 1);
}

/// A burst into a small ring read by a slow consumer: reading pauses whenever the ring is
/// congested and resumes after the loop yields, so every message is handled, in order, and
/// each event is either delivered or counted in an `Overflow` that precedes the next one.
#[test]
fn a_burst_into_a_congested_ring_pauses_and_resumes_without_silent_loss() {
    const CAP: usize = 32;
    const N: u64 = 3000;
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, N).unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::profile(
        tickwire_engine::config::Profile::LowLatency,
    ));
    let (cid, mut consumer) = b.consumer(CAP);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut trades, mut reported_drops, mut last_id) = (0u64, 0u64, None::<u64>);
    while trades + reported_drops < N {
        assert!(
            Instant::now() < deadline,
            "stalled: {trades} trades, {reported_drops} reported dropped, {} handled",
            observed.messages.load(Ordering::SeqCst)
        );
        match consumer.pop() {
            Some(e) => {
                if let Some(t) = e.as_trade() {
                    assert!(last_id.is_none_or(|l| t.id > l), "out of order");
                    last_id = Some(t.id);
                    trades += 1;
                } else if let Some(s) = e.as_status() {
                    if s.kind == StatusKind::Overflow {
                        reported_drops += s.value;
                    }
                }
                // Slow: a few microseconds per event.
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(3) {}
            }
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
    assert_eq!(trades + reported_drops, N);
    assert_eq!(observed.messages.load(Ordering::SeqCst), N);
    let stats = engine.join().unwrap();
    assert_eq!(stats.messages, N);
    assert_eq!(stats.dropped_events, consumer.stats().dropped());
    assert!(stats.congestion_pauses > 0, "the ring never got congested");
}

// ---- issue 19: the consumer-side contract ----

use tickwire_engine::adapter::{BookSnapshot, FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::command::CommandError;
use tickwire_engine::event::{Event, Flags, Level, Side};
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{Consumer, channel};
use tickwire_engine::{Decimal, InstrumentId, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Subscription};

/// The snapshot a [`RunHandler`] publishes: 3 bids and 4 asks.
const BIDS: [i64; 3] = [100, 99, 98];
const ASKS: [i64; 4] = [101, 102, 103, 104];

/// For every message, publishes a 7-level SNAPSHOT run (seq = the message's number), event
/// by event as a handler that does not use `publish_all` would.
struct RunHandler(Arc<AtomicU64>);

impl WsHandler for RunHandler {
    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        let Some(seq) = tickwire_tests::handlers::parse_seq(msg.payload()) else {
            return;
        };
        // Counted once the run is out (the test stops when every message is handled).
        let _done = Done(&self.0);
        let levels = BIDS
            .iter()
            .map(|&p| (Side::Buy, p))
            .chain(ASKS.iter().map(|&p| (Side::Sell, p)));
        let n = BIDS.len() + ASKS.len();
        for (i, (side, price)) in levels.enumerate() {
            let mut flags = Flags::SNAPSHOT;
            if i == 0 {
                flags = flags.with(Flags::RUN_START);
            }
            if i + 1 == n {
                flags = flags.with(Flags::LAST_IN_BATCH);
            }
            let level = Level {
                side,
                price: Decimal::from_parts(price, 0),
                qty: Decimal::from_parts(seq as i64 + 1, 0),
                seq,
            };
            cx.publish(Event::level(InstrumentId(0), level, flags, 0, cx.now()).unwrap());
        }
    }
}

struct Done<'a>(&'a AtomicU64);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Issue 19 item 1, live: a 2-slot ring fed 7-level snapshot runs event by event over a
/// loopback connection, read by a slow consumer. Every run is cut by overflows; whenever the
/// consumer's book says it is valid, it holds one whole run (3 bids, 4 asks, one seq).
#[test]
fn a_two_slot_ring_never_yields_a_valid_book_with_missing_levels() {
    const N: u64 = 3000;
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, N).unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(2);
    let engine = b.start().unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(RunHandler(handled.clone())), &[cid])
        .unwrap();
    let mut book = Book::new(BookConfig::with_depth(16));
    let (mut levels, mut overflows, mut valid_seen) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until every message is handled and what it left in the ring is read.
    loop {
        assert!(Instant::now() < deadline, "stalled after {levels} levels");
        let Some(e) = consumer.pop() else {
            if handled.load(Ordering::SeqCst) == N {
                break;
            }
            std::thread::sleep(Duration::from_micros(20));
            continue;
        };
        book.apply_event(&e).unwrap();
        if e.as_level().is_some() {
            levels += 1;
        } else if e
            .as_status()
            .is_some_and(|s| s.kind == StatusKind::Overflow)
        {
            overflows += 1;
        }
        if book.is_valid() {
            valid_seen += 1;
            assert_eq!(
                (book.bid_len(), book.ask_len()),
                (BIDS.len(), ASKS.len()),
                "valid with missing levels after {levels} levels, {overflows} overflows"
            );
            let qty = book.seq() as i64 + 1;
            assert!(
                book.bids(9)
                    .chain(book.asks(9))
                    .all(|(_, q)| q.mantissa() == qty)
            );
        }
        // A slow consumer: a few microseconds per event.
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(2) {}
    }
    assert!(overflows > 0, "the ring never overflowed");
    // Whole runs are rare through two slots; what matters is that no cut one was valid.
    let _ = valid_seen;
    engine.join().unwrap();
}

/// Issue 19 item 5: a consumer that is dropped, or never read, slows only its own
/// connections. The dropped one's ring is retired and counted; a stalled ring on another
/// connection causes no pauses here; a removed consumer sees its ring abandoned.
#[test]
fn dropped_and_stalled_consumers_do_not_slow_other_connections() {
    const N: u64 = 4000;
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, N).unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (gone_id, gone) = b.consumer(64);
    let (live_id, mut live) = b.consumer(1 << 14);
    let (stalled_id, _stalled) = b.consumer(64);
    let (removed_id, mut removed) = b.consumer(1 << 14);
    let engine = b.start().unwrap();
    drop(gone);
    let h = engine.handle();
    let cfg = || {
        ConnectionConfig::new(&server.ws_url("/"))
            .unwrap()
            .options(test_options())
    };
    let (h1, seen1) = SeqHandler::new(&[]);
    let (h2, seen2) = SeqHandler::new(&[]);
    // Connection 1 feeds the dropped consumer and the live one; connection 2 a consumer
    // that is never read (a stall on another connection) and one that gets removed.
    h.add_connection(cfg(), Box::new(h1), &[gone_id, live_id])
        .unwrap();
    h.add_connection(cfg(), Box::new(h2), &[stalled_id, removed_id])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut trades = 0u64;
    while trades < N {
        assert!(Instant::now() < deadline, "{trades} trades of {N}");
        match live.pop() {
            Some(e) => trades += u64::from(e.as_trade().is_some()),
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
    while seen2.messages.load(Ordering::SeqCst) < N || seen1.messages.load(Ordering::SeqCst) < N {
        assert!(Instant::now() < deadline, "messages not handled");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The removed consumer drains what it got, then sees its ring abandoned.
    h.remove_consumer(removed_id).unwrap();
    let t = Instant::now();
    while !removed.is_abandoned() {
        assert!(t.elapsed() < Duration::from_secs(10), "not released");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut got = 0u64;
    while let Some(e) = removed.pop() {
        got += u64::from(e.as_trade().is_some());
    }
    assert_eq!(got + removed.stats().dropped(), N);
    assert_eq!(
        h.remove_consumer(removed_id),
        Err(CommandError::UnknownConsumer(removed_id))
    );
    let stats = engine.join().unwrap();
    assert_eq!(trades, N, "the live consumer got every trade");
    assert_eq!(stats.abandoned_consumers, 1);
    assert_eq!(stats.removed_consumers, 1);
    // Before: each message of connection 1 paused on the full ring of the dropped consumer
    // (N pauses), and connection 1 paused on the stalled ring of connection 2 as well. Now
    // only connection 2 pauses, on its own stalled ring; connection 1 not at all.
    assert!(
        stats.congestion_pauses <= N + 64,
        "{} pauses",
        stats.congestion_pauses
    );
}

/// Drives a [`FeedHandler`] without a network, publishing to two rings.
struct TwoRings {
    outbox: Outbox,
    publisher: Publisher,
    actions: Actions,
    tiny: Consumer,
    big: Consumer,
}

impl TwoRings {
    fn cx(&mut self, now: u64) -> Context<'_> {
        Context::new(
            now,
            ConnectionId(3),
            &mut self.outbox,
            &mut self.publisher,
            &mut self.actions,
        )
    }

    fn message<H: WsHandler>(&mut self, h: &mut H, now: u64, text: &str) {
        let mut buf = text.as_bytes().to_vec();
        h.on_message(Message::Text(&mut buf), &mut self.cx(now));
        h.on_poll(&mut self.cx(now));
    }
}

fn depth_diff(u: u64, bid: (&str, &str)) -> String {
    format!(
        r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":{u},"u":{u},"b":[["{}","{}"]],"a":[]}}"#,
        bid.0, bid.1
    )
}

fn btc_feed(depth: usize) -> (FeedHandler<BinanceAdapter>, QueuedSnapshots, InstrumentId) {
    let mut config = BinanceConfig::spot();
    config.book_depth = depth;
    let reg = Registry::new();
    let subs = [Subscription::new(
        "BTCUSDT",
        Channel::Depth(DepthSpeed::Ms100),
    )];
    let a = BinanceAdapter::new(config, &subs, &reg).unwrap();
    let btc = reg.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    (
        FeedHandler::new(a, Box::new(snaps), FeedConfig::default()),
        feeder,
        btc,
    )
}

/// Issue 19 item 6: one consumer's overflow republishes the books to that consumer only;
/// the healthy consumer of the same connection sees one snapshot run (the sync), not one per
/// overflow of its neighbour. The overflowed consumer's book is valid again and right.
#[test]
fn a_republish_after_an_overflow_goes_to_the_overflowed_consumer_only() {
    let (mut h, feeder, btc) = btc_feed(100);
    let (pt, tiny) = channel(24);
    let (pb, big) = channel(1 << 12);
    let mut t = TwoRings {
        outbox: Outbox::new(1 << 20),
        publisher: Publisher::new(vec![pt, pb]),
        actions: Actions::default(),
        tiny,
        big,
    };
    h.on_connect(&mut t.cx(0));
    feeder.push(BookSnapshot {
        instrument: btc,
        last_id: 100,
        exchange_ts: 0,
        bids: vec![
            ("10.0".parse().unwrap(), "5".parse().unwrap()),
            ("9.9".parse().unwrap(), "1".parse().unwrap()),
        ],
        asks: vec![("10.5".parse().unwrap(), "2".parse().unwrap())],
    });
    t.message(&mut h, 1, &depth_diff(101, ("10.1", "1")));
    let mut mine = Book::new(BookConfig::with_depth(100));
    let mut healthy = Book::new(BookConfig::with_depth(100));
    let mut big_snapshots = 0;
    let mut drain_big = |t: &mut TwoRings, healthy: &mut Book| {
        while let Some(e) = t.big.pop() {
            healthy.apply_event(&e).unwrap();
            if e.flags.contains(Flags::SNAPSHOT.with(Flags::LAST_IN_BATCH)) {
                big_snapshots += 1;
            }
        }
    };
    // Returns the Overflow reports seen.
    let drain_tiny = |t: &mut TwoRings, mine: &mut Book| {
        let mut overflows = 0;
        while let Some(e) = t.tiny.pop() {
            mine.apply_event(&e).unwrap();
            overflows += u32::from(
                e.as_status()
                    .is_some_and(|s| s.kind == StatusKind::Overflow),
            );
        }
        overflows
    };
    drain_tiny(&mut t, &mut mine);
    assert!(mine.is_valid());
    // Three rounds: the tiny consumer stalls through 40 diffs, then catches up.
    let mut u = 102;
    for round in 0..3 {
        for i in 0..40u64 {
            let price = format!("9.{}", 8 - i % 5);
            let qty = format!("{}", 1 + i + round);
            t.message(&mut h, u, &depth_diff(u, (&price, &qty)));
            u += 1;
            drain_big(&mut t, &mut healthy);
        }
        // The ring was full: the drops are reported before the next event.
        assert_eq!(drain_tiny(&mut t, &mut mine), 0);
        // The next message brings the report, its diff and the republished book.
        t.message(
            &mut h,
            u,
            &depth_diff(u, ("10.2", &format!("{}", 4 + round))),
        );
        u += 1;
        drain_big(&mut t, &mut healthy);
        assert_eq!(drain_tiny(&mut t, &mut mine), 1, "round {round}");
        assert!(mine.is_valid(), "round {round}: republished");
        let theirs = h.book(btc).unwrap();
        assert!(mine.bids(usize::MAX).eq(theirs.bids(usize::MAX)));
        assert!(mine.asks(usize::MAX).eq(theirs.asks(usize::MAX)));
    }
    assert_eq!(h.stats().republished, 3);
    // Before: every republish went to the healthy consumer as well (4 snapshot runs).
    assert_eq!(big_snapshots, 1);
    assert!(healthy.is_valid());
    let theirs = h.book(btc).unwrap();
    assert!(healthy.bids(usize::MAX).eq(theirs.bids(usize::MAX)));
    assert_eq!(t.big.stats().dropped(), 0);
}

/// Issue 19 item 6: a ring that cannot take the deepest snapshot run whole is refused when
/// the feed is added (a 2-slot ring, or one just short of two full sides and the report).
#[test]
fn a_feed_refuses_a_ring_smaller_than_its_deepest_snapshot_run() {
    let mut b = Engine::builder(EngineConfig::default());
    let (two, _c1) = b.consumer(2);
    let (short, _c2) = b.consumer(2 * 100);
    let (enough, _c3) = b.consumer(2 * 100 + 1);
    let engine = b.start().unwrap();
    let h = engine.handle();
    let cfg = || ConnectionConfig::new("ws://127.0.0.1:9/").unwrap();
    for (id, capacity) in [(two, 2), (short, 200)] {
        let (feed, _, _) = btc_feed(100);
        assert_eq!(
            h.add_connection(cfg(), Box::new(feed), &[id]).err(),
            Some(CommandError::RingTooSmall {
                consumer: id,
                capacity,
                needed: 201
            })
        );
    }
    let (feed, _, _) = btc_feed(100);
    let conn = h.add_connection(cfg(), Box::new(feed), &[enough]).unwrap();
    assert!(matches!(
        h.route(conn, &[enough, two]),
        Err(CommandError::RingTooSmall { .. })
    ));
    engine.join().unwrap();
}
