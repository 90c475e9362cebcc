//! The hot path allocates nothing: after warm-up, 100,000 messages through the fixed-event
//! path (one `Event` published per message, telemetry on) cause zero allocations on the I/O
//! thread. Also with permessage-deflate: every message compressed (context takeover), each
//! inflated into the connection's own buffer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig, Profile};
use tickwire_engine::engine::Engine;
use tickwire_engine::telemetry::{self, CollectorThread, DefaultCollector};
use tickwire_engine::ws::DeflateOffer;
use tickwire_tests::alloc::{CountingAlloc, allocations};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const WARMUP: u64 = 10_000;
const MEASURED: u64 = 100_000;

fn wait_messages(observed: &tickwire_tests::handlers::Observed, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while observed.messages.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} messages",
            observed.messages.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `deflate`: the answer the server gives a permessage-deflate offer (and the client offers
/// it); `None`: plain frames.
fn run(profile: Profile, deflate: Option<&'static str>) {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let answer = move |offer: Option<&str>| {
        offer
            .filter(|o| o.starts_with("permessage-deflate"))
            .and(deflate)
            .map(str::to_string)
    };
    let server = TestServer::plain_with_extensions(answer, move |peer| {
        assert_eq!(peer.deflating(), deflate.is_some());
        peer.send_numbered(0, WARMUP).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_numbered(WARMUP, MEASURED).unwrap();
        // Pings in the measured window exercise the pong path too.
        peer.send_ping(b"p").unwrap();
        peer.serve(true, Duration::from_secs(60));
    });
    let (tx, rx) = telemetry::channel(1 << 16);
    let collector =
        CollectorThread::spawn(rx, DefaultCollector::new(), Duration::from_millis(5)).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(profile));
    b.telemetry(tx);
    let (cid, mut consumer) = b.consumer(1 << 12);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&["t"]);
    let mut opts = test_options();
    // Client pings and the stale check run during the measured window too.
    opts.ping_interval = Some(Duration::from_millis(20));
    opts.stale_after = Some(Duration::from_secs(30));
    opts.deflate = deflate.map(|_| DeflateOffer::default());
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    let conn = engine
        .handle()
        .add_connection(cfg, Box::new(handler.count_allocations()), &[cid])
        .unwrap();
    // A consumer thread keeps up (drops would not allocate either, but this is the real
    // shape).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s.load(Ordering::Relaxed) || !consumer.is_empty() {
            match consumer.pop() {
                Some(_) => n += 1,
                None => std::thread::yield_now(),
            }
        }
        n
    });
    wait_messages(&observed, WARMUP);
    // Let the warm-up settle (the first pings and pongs, rings, histograms).
    std::thread::sleep(Duration::from_millis(100));
    let before = allocations();
    go_tx.send(()).unwrap();
    wait_messages(&observed, WARMUP + MEASURED);
    std::thread::sleep(Duration::from_millis(100));
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "I/O thread allocated {} times",
        after - before
    );
    // The counter does see the I/O thread: a subscribe (control path) allocates there.
    engine.handle().subscribe(conn, vec!["z".into()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while allocations() == after {
        assert!(
            Instant::now() < deadline,
            "counter saw no allocation on the I/O thread"
        );
        std::thread::sleep(Duration::from_millis(1));
    }

    let stats = engine.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let consumed = reader.join().unwrap();
    assert_eq!(stats.messages, WARMUP + MEASURED);
    assert!(consumed >= WARMUP + MEASURED - stats.dropped_events);
    let snap = collector.stop().lock().unwrap().snapshot();
    assert_eq!(snap.messages_received, WARMUP + MEASURED);
    assert_eq!(snap.upgrades, 1);
    assert!(snap.messages_sent >= 2, "subscribe + pong at least");
}

#[test]
fn no_allocations_on_the_io_thread_in_steady_state() {
    // One test per binary: the allocation counter is global to the process.
    run(Profile::Standard, None);
    run(Profile::LowLatency, None);
    // Context takeover (one inflate stream), then a fresh stream per message.
    run(Profile::Standard, Some("permessage-deflate"));
    run(
        Profile::Standard,
        Some("permessage-deflate; server_no_context_takeover"),
    );
}
