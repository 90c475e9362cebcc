//! The raw-payload path allocates nothing either: after warm-up, 100,000 messages forwarded
//! whole through `RawForwarder` into a byte ring (read by another thread) cause zero
//! allocations on the I/O thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig, Profile};
use tickwire_engine::engine::Engine;
use tickwire_engine::raw::{RawForwarder, RawItem, raw_channel};
use tickwire_engine::{Context, Message, WsHandler};
use tickwire_tests::alloc::{CountingAlloc, allocations, count_this_thread};
use tickwire_tests::handlers::parse_seq;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const WARMUP: u64 = 10_000;
const MEASURED: u64 = 100_000;

/// `RawForwarder` plus the test's hooks: count the I/O thread's allocations, count messages.
struct Counted {
    inner: RawForwarder,
    seen: Arc<AtomicU64>,
}

impl WsHandler for Counted {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        count_this_thread(true);
        self.inner.on_connect(cx);
    }

    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        self.inner.on_message(msg, cx);
        self.seen.fetch_add(1, Ordering::Release);
    }
}

fn wait(seen: &AtomicU64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "only {} messages",
            seen.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn raw_payload_path_does_not_allocate_on_the_io_thread() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, WARMUP).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_numbered(WARMUP, MEASURED).unwrap();
        peer.serve(true, Duration::from_secs(60));
    });
    let engine = Engine::builder(EngineConfig::profile(Profile::Standard))
        .start()
        .unwrap();
    let (producer, mut consumer) = raw_channel(1 << 20);
    let seen = Arc::new(AtomicU64::new(0));
    let handler = Counted {
        inner: RawForwarder::new(producer, vec![b"sub".to_vec()]),
        seen: seen.clone(),
    };
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[])
        .unwrap();

    // The reader checks order and completeness: every payload is the next number.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let reader = std::thread::spawn(move || {
        // `pending` is the drop count of an Overflow report not yet accounted for: the next
        // payload must be exactly that many numbers ahead.
        let (mut next, mut overflows, mut pending) = (0u64, 0u64, 0u64);
        loop {
            let item = consumer.pop_with(|item| match item {
                RawItem::Message { payload, .. } => {
                    Ok(parse_seq(payload).expect("numeric payload"))
                }
                RawItem::Overflow { dropped } => Err(dropped),
            });
            match item {
                Some(Ok(n)) => {
                    assert_eq!(
                        n,
                        next + pending,
                        "a message was lost without an Overflow report"
                    );
                    next = n + 1;
                    pending = 0;
                }
                Some(Err(dropped)) => {
                    pending += dropped;
                    overflows += dropped;
                }
                None if s.load(Ordering::Acquire) => break,
                None => std::thread::yield_now(),
            }
        }
        (next, overflows)
    });

    wait(&seen, WARMUP);
    std::thread::sleep(Duration::from_millis(100));
    let before = allocations();
    go_tx.send(()).unwrap();
    wait(&seen, WARMUP + MEASURED);
    std::thread::sleep(Duration::from_millis(100));
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "I/O thread allocated {} times",
        after - before
    );

    let stats = engine.join().unwrap();
    stop.store(true, Ordering::Release);
    let (next, overflows) = reader.join().unwrap();
    assert_eq!(stats.messages, WARMUP + MEASURED);
    // Every message arrived, or its loss was reported in-band.
    assert_eq!(next, WARMUP + MEASURED);
    assert_eq!(overflows, 0, "the 1 MiB ring should keep up");
}
