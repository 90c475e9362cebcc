//! The TLS receive path: rustls 0.23 queues decrypted plaintext as one `Vec` per TLS record
//! (in both its buffered and unbuffered APIs), so `wss://` allocates once per record, not per
//! message. This bounds it: with records of up to 16 KiB carrying many small messages, the
//! I/O thread allocates far less than once per message, and nothing else allocates.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_tests::alloc::{CountingAlloc, allocations};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;
use tickwire_tests::tls::TestCert;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn tls_allocates_per_record_not_per_message() {
    const WARMUP: u64 = 5_000;
    const MEASURED: u64 = 100_000;
    let cert = TestCert::generate();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let server = TestServer::tls(&cert, move |peer| {
        peer.send_numbered(0, WARMUP).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_numbered(WARMUP, MEASURED).unwrap();
        peer.serve(true, Duration::from_secs(60));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 18);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.wss_url("/"))
        .unwrap()
        .trust_root_der(&cert.cert_der)
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler.count_allocations()), &[cid])
        .unwrap();
    let wait = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while observed.messages.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "messages missing");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait(WARMUP);
    std::thread::sleep(Duration::from_millis(50));
    let before = allocations();
    go_tx.send(()).unwrap();
    wait(WARMUP + MEASURED);
    let used = allocations() - before;
    // About 6-7 bytes per message: 100k messages are ~650 KB, i.e. ~40 full records; allow
    // for partial records from TCP segmentation.
    println!("TLS: {used} allocations for {MEASURED} messages");
    assert!(
        used < MEASURED / 20,
        "{used} allocations for {MEASURED} messages"
    );
    while consumer.pop().is_some() {}
    engine.join().unwrap();
}
