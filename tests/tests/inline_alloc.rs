//! An inline consumer costs the I/O thread no allocation: after warm-up, zero allocations per
//! message with an inline consumer attached beside a ring consumer, stage stamps on (each run
//! copied, stamped, into the consumer's buffer) and off (the run lent as is).
//!
//! * By hand: the Binance feed handler over the second half of a real capture, publishing
//!   each message's run to a ring and to an inline consumer that keeps the book.
//! * Whole engine: 100,000 messages from the loopback server on the I/O thread, counted on
//!   that thread (the consumer is called there).

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tickwire_engine::adapter::{FeedConfig, FeedHandler, QueuedSnapshots};
use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::config::{ConnectionConfig, EngineConfig, Profile};
use tickwire_engine::engine::Engine;
use tickwire_engine::handler::{
    Actions, ConnectionId, Context, Message, Outbox, Publisher, WsHandler,
};
use tickwire_engine::ring::{channel, inline};
use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector};
use tickwire_engine::{Event, Registry};
use tickwire_feeds::binance::{
    BinanceAdapter, BinanceConfig, Channel, DepthSpeed, Subscription, TimeUnit,
    parse_depth_snapshot,
};
use tickwire_feeds::capture::CaptureReader;
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn load(name: &str) -> Vec<(u64, Vec<u8>)> {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    let path = if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared/data").join(name)
    };
    let f = std::fs::File::open(path).expect("capture file");
    let mut r = CaptureReader::new(BufReader::new(flate2::read::GzDecoder::new(f)));
    let mut v = Vec::new();
    while let Some(line) = r.next() {
        let line = line.unwrap();
        v.push((line.recv_ns, line.frame.to_vec()));
    }
    v
}

/// The feed handler by hand over a capture; returns (messages measured, allocations).
fn by_hand(lines: &[(u64, Vec<u8>)], stamps: bool) -> (u64, u64) {
    let registry = Registry::new();
    let subs = Subscription::product(
        &["BTCUSDT"],
        &[
            Channel::Depth(DepthSpeed::Ms100),
            Channel::BookTicker,
            Channel::Trade,
        ],
    );
    let config = BinanceConfig::spot();
    let book_depth = config.book_depth;
    let adapter = BinanceAdapter::new(config, &subs, &registry).unwrap();
    let btc = registry.lookup("binance", "BTCUSDT").unwrap();
    let snaps = QueuedSnapshots::new();
    let feeder = snaps.feeder();
    let mut handler = FeedHandler::new(adapter, Box::new(snaps), FeedConfig::default());
    // The inline consumer keeps the book (its own allocations would count too: it has
    // none once the book has its levels).
    let valid = Arc::new(AtomicU64::new(0));
    let v = valid.clone();
    let mut book = Book::new(BookConfig::with_depth(book_depth));
    let (inline_end, handle) = inline(move |events: &[Event]| {
        for e in events {
            // An error panics: the handle would say so.
            book.apply_event(e).unwrap();
        }
        v.store(u64::from(book.is_valid()), Ordering::Relaxed);
    });
    let (ring_end, mut ring) = channel(1 << 16);
    let mut publisher = Publisher::new(vec![ring_end, inline_end]);
    publisher.set_stage_stamps(stamps);
    let mut outbox = Outbox::new(1 << 20);
    let mut actions = Actions::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    handler.on_connect(&mut Context::new(
        0,
        ConnectionId(1),
        &mut outbox,
        &mut publisher,
        &mut actions,
    ));
    let half = lines.len() / 2;
    let mut before = 0;
    for (i, (recv, frame)) in lines.iter().enumerate() {
        let snapshot = frame.starts_with(b"{\"lastUpdateId\"");
        if snapshot {
            let mut b = frame.clone();
            feeder.push(parse_depth_snapshot(&mut b, btc, TimeUnit::Millisecond).unwrap());
        }
        buf.clear();
        buf.extend_from_slice(frame);
        if i == half {
            before = allocations();
            count_this_thread(true);
        }
        let mut cx = Context::new(
            *recv,
            ConnectionId(1),
            &mut outbox,
            &mut publisher,
            &mut actions,
        );
        if !snapshot {
            handler.on_message(Message::Text(&mut buf), &mut cx);
        }
        handler.on_poll(&mut cx);
        while ring.pop().is_some() {}
    }
    count_this_thread(false);
    let allocated = allocations() - before;
    assert!(handler.in_sync(btc));
    assert_eq!(valid.load(Ordering::Relaxed), 1, "the inline book is valid");
    assert!(!handle.has_panicked());
    ((lines.len() - half) as u64, allocated)
}

/// The whole engine with the loopback server; returns the allocations over the measured
/// messages.
fn engine(stamps: bool) -> u64 {
    const WARMUP: u64 = 10_000;
    const MEASURED: u64 = 100_000;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, WARMUP).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_numbered(WARMUP, MEASURED).unwrap();
        peer.serve(true, Duration::from_secs(60));
    });
    let mut config = EngineConfig::profile(Profile::Standard);
    config.telemetry = stamps;
    config.stage_histograms = stamps;
    let mut b = Engine::builder(config);
    let (tx, rx) = telemetry::channel(1 << 16);
    b.telemetry(tx);
    let collector =
        CollectorThread::spawn(rx, DefaultCollector::new(), Duration::from_millis(5)).unwrap();
    let (ring_id, mut ring) = b.consumer(1 << 12);
    // The consumer counts trades and sums their ids: what a strategy's bookkeeping costs.
    let seen = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (s, m) = (seen.clone(), sum.clone());
    let (inline_id, handle) = b
        .inline_consumer(move |events: &[Event]| {
            for e in events {
                if let Some(t) = e.as_trade() {
                    m.fetch_add(t.id, Ordering::Relaxed);
                    s.fetch_add(1, Ordering::Release);
                }
            }
        })
        .unwrap();
    let engine = b.start().unwrap();
    let (handler, _observed) = SeqHandler::new(&["t"]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(
            cfg,
            Box::new(handler.count_allocations()),
            &[ring_id, inline_id],
        )
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let reader = std::thread::spawn(move || {
        while !st.load(Ordering::Relaxed) || !ring.is_empty() {
            if ring.pop().is_none() {
                std::thread::yield_now();
            }
        }
    });
    let wait = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.load(Ordering::Acquire) < n {
            assert!(
                Instant::now() < deadline,
                "only {}",
                seen.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait(WARMUP);
    std::thread::sleep(Duration::from_millis(100));
    let before = allocations();
    go_tx.send(()).unwrap();
    wait(WARMUP + MEASURED);
    std::thread::sleep(Duration::from_millis(50));
    let allocated = allocations() - before;
    engine.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    collector.stop();
    // Every message reached the inline consumer, in order of ids 0..n (an independent sum).
    let n = WARMUP + MEASURED;
    assert_eq!(seen.load(Ordering::Relaxed), n);
    assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
    assert!(handle.is_detached() && !handle.has_panicked());
    allocated
}

#[test]
fn an_inline_consumer_adds_no_allocation_per_message() {
    // One test per binary: the allocation counter is global to the process.
    let lines = load("binance_spot_btcusdt_20240808.gz");
    for stamps in [true, false] {
        let (messages, allocated) = by_hand(&lines, stamps);
        assert!(messages > 20_000);
        assert_eq!(
            allocated, 0,
            "by hand, stamps {stamps}: {messages} messages"
        );
        assert_eq!(engine(stamps), 0, "engine, stamps {stamps}");
    }
}
