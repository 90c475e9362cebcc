//! A consumer that falls behind: events are dropped, never block the socket, and the
//! consumer learns the exact number dropped from an `Overflow` status.

use std::sync::atomic::Ordering;
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
