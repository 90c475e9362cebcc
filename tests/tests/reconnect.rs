//! A killed server: reconnect with backoff (bounded, jittered), subscriptions resent.

use std::time::{Duration, Instant};

use tickwire_engine::config::{BackoffConfig, ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::{Peer, TestServer};
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

fn script(peer: &mut Peer) {
    // Read the two subscriptions, send one numbered message, keep serving.
    for _ in 0..2 {
        if peer.read_frame(Duration::from_secs(10)).is_none() {
            return;
        }
    }
    let _ = peer.send_text(&(100 + peer.index() as u64).to_string());
    peer.serve(true, Duration::from_secs(30));
}

#[test]
fn killed_server_reconnects_with_backoff_and_resubscribes() {
    let server = TestServer::plain(script);
    let port = server.port();
    let mut opts = test_options();
    opts.backoff = BackoffConfig {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(400),
        max_attempts: None,
    };
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1024);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&["x", "y"]);
    let cfg = ConnectionConfig::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "first message", |e| {
        trade_ids(e) == [100]
    });
    let frames_before = server.frames();
    assert_eq!(
        frames_before.iter().map(|f| f.text()).collect::<Vec<_>>(),
        ["SUB x", "SUB y"]
    );

    // Kill it; keep it down for a while so several attempts fail.
    server.kill();
    let killed = Instant::now();
    collect_until(
        &mut consumer,
        &mut events,
        T,
        "three reconnect attempts",
        |e| count_status(e, StatusKind::Reconnecting) >= 3,
    );
    let server = TestServer::start_on(port, None, script);
    collect_until(&mut consumer, &mut events, T, "reconnected and data", |e| {
        count_status(e, StatusKind::Connected) == 2 && trade_ids(e).len() == 2
    });
    let reconnected = killed.elapsed();

    let s = statuses(&events);
    let down = s
        .iter()
        .find(|s| s.kind == StatusKind::Disconnected)
        .unwrap();
    assert_eq!(down.reason, Reason::Io.code());
    // Attempt numbers count up from 1 while the server is down.
    let attempts: Vec<u64> = s
        .iter()
        .filter(|s| s.kind == StatusKind::Reconnecting)
        .map(|s| s.value)
        .collect();
    assert!(
        attempts.windows(2).all(|w| w[1] == w[0] + 1),
        "{attempts:?}"
    );
    assert_eq!(attempts[0], 1);
    // Backoff bounds: n attempts need at most the sum of their windows (100, 200, 400, 400..)
    // plus connect time; generous slack for a loaded machine.
    let windows: u64 = (1..=attempts.len() as u32)
        .map(|n| (100u64 << (n - 1).min(20)).min(400))
        .sum();
    assert!(
        reconnected < Duration::from_millis(windows + 5_000),
        "{reconnected:?} for {} attempts",
        attempts.len()
    );
    // Subscriptions were resent on the new connection.
    server.wait_for(T, "resubscribe", |r| r.frames.len() >= 2);
    assert_eq!(
        server.frames().iter().map(|f| f.text()).collect::<Vec<_>>(),
        ["SUB x", "SUB y"]
    );
    assert_eq!(
        observed.connects.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    let stats = engine.join().unwrap();
    assert!(stats.reconnects >= 3);
    assert_eq!(stats.connects, 2);
}

#[test]
fn max_attempts_stops_for_good() {
    // Nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut opts = test_options();
    opts.backoff = BackoffConfig {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(20),
        max_attempts: Some(3),
    };
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&format!("ws://127.0.0.1:{port}/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "final disconnect", |e| {
        count_status(e, StatusKind::Disconnected) == 1
    });
    assert_eq!(count_status(&events, StatusKind::Reconnecting), 3);
    let last = statuses(&events).pop().unwrap();
    assert_eq!(
        (last.kind, last.reason),
        (StatusKind::Disconnected, Reason::Connect.code())
    );
    let stats = engine.join().unwrap();
    assert_eq!(stats.connect_failures, 4);
    assert_eq!(stats.reconnects, 3);
}
