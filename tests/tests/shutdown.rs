//! Shutdown, close and remove: close handshakes, clean joins, and many connections on one
//! loop.

use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig, IdleStrategy, Profile};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

#[test]
fn shutdown_closes_with_a_handshake_and_joins() {
    let server = TestServer::plain(|peer| {
        peer.send_text("1").unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    let h = engine.handle();
    h.add_connection(cfg, Box::new(handler), &[cid]).unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "message", |e| {
        trade_ids(e) == [1]
    });
    let t0 = Instant::now();
    let stats = engine.join().unwrap();
    // The server echoes the close at once, so no waiting for the close deadline.
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(stats.messages, 1);
    let close = server.frames().into_iter().find(|f| f.opcode == 8).unwrap();
    assert_eq!(close.close_code(), Some(1000));
    // The consumer sees the disconnect, then the abandoned ring.
    while let Some(e) = consumer.pop() {
        events.push(e);
    }
    let last = statuses(&events).pop().unwrap();
    assert_eq!(
        (last.kind, last.reason),
        (StatusKind::Disconnected, Reason::Shutdown.code())
    );
    assert!(consumer.is_abandoned());
    assert!(h.is_stopped());
    assert!(
        h.send_text(tickwire_engine::handler::ConnectionId(1), "x")
            .is_err()
    );
}

#[test]
fn shutdown_with_an_unresponsive_peer_is_bounded() {
    let server = TestServer::plain(|peer| peer.go_silent(Duration::from_secs(20)));
    let config = EngineConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..EngineConfig::default()
    };
    let mut b = Engine::builder(config);
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let mut opts = test_options();
    opts.close_timeout = Duration::from_secs(10);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "connected", |e| {
        count_status(e, StatusKind::Connected) == 1
    });
    let t0 = Instant::now();
    engine.join().unwrap();
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn close_and_remove_stop_reconnecting() {
    let server = TestServer::plain(|peer| peer.serve(true, Duration::from_secs(20)));
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let h = engine.handle();
    let mk = || {
        ConnectionConfig::new(&server.ws_url("/"))
            .unwrap()
            .options(test_options())
    };
    let a = h
        .add_connection(mk(), Box::new(SeqHandler::new(&[]).0), &[cid])
        .unwrap();
    let c = h
        .add_connection(mk(), Box::new(SeqHandler::new(&[]).0), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "two connected", |e| {
        count_status(e, StatusKind::Connected) == 2
    });
    h.close(a, 4000).unwrap();
    h.remove(c).unwrap();
    collect_until(&mut consumer, &mut events, T, "two disconnected", |e| {
        count_status(e, StatusKind::Disconnected) == 2
    });
    server.wait_for(T, "two close frames", |r| {
        r.frames.iter().filter(|f| f.opcode == 8).count() == 2
    });
    let mut codes: Vec<u16> = server
        .frames()
        .iter()
        .filter_map(|f| f.close_code())
        .collect();
    codes.sort();
    assert_eq!(codes, [1000, 4000]);
    std::thread::sleep(Duration::from_millis(300));
    while let Some(e) = consumer.pop() {
        events.push(e);
    }
    assert_eq!(count_status(&events, StatusKind::Reconnecting), 0);
    assert_eq!(server.accepted(), 2);
    let stats = engine.join().unwrap();
    assert_eq!(stats.reconnects, 0);
}

#[test]
fn fifty_connections_on_one_loop() {
    const CONNS: u64 = 50;
    const PER: u64 = 200;
    let server = TestServer::plain(|peer| {
        let base = peer.index() as u64 * 1_000_000;
        peer.send_numbered(base, PER).unwrap();
        peer.serve(true, Duration::from_secs(30));
    });
    let mut config = EngineConfig::profile(Profile::LowLatency);
    config.idle = IdleStrategy::SpinThenYield { spins: 0 };
    let mut b = Engine::builder(config);
    let (even, mut even_rx) = b.consumer(1 << 14);
    let (all, mut all_rx) = b.consumer(1 << 14);
    let engine = b.start().unwrap();
    let h = engine.handle();
    for i in 0..CONNS {
        let routes = if i % 2 == 0 {
            vec![even, all]
        } else {
            vec![all]
        };
        let cfg = ConnectionConfig::new(&server.ws_url("/"))
            .unwrap()
            .options(test_options());
        h.add_connection(cfg, Box::new(SeqHandler::new(&[]).0), &routes)
            .unwrap();
    }
    let mut events = Vec::new();
    collect_until(&mut all_rx, &mut events, T, "all messages", |e| {
        trade_ids(e).len() as u64 == CONNS * PER
    });
    // Per connection, in order.
    let ids = trade_ids(&events);
    for c in 0..CONNS {
        let base = c * 1_000_000;
        let mine: Vec<u64> = ids.iter().copied().filter(|i| i / 1_000_000 == c).collect();
        assert!(mine.iter().copied().eq(base..base + PER), "connection {c}");
    }
    assert_eq!(count_status(&events, StatusKind::Connected), CONNS as usize);
    let mut half = Vec::new();
    collect_until(&mut even_rx, &mut half, T, "half", |e| {
        trade_ids(e).len() as u64 == CONNS / 2 * PER
    });
    let stats = engine.join().unwrap();
    assert_eq!(stats.messages, CONNS * PER);
    assert_eq!(stats.connects, CONNS);
    assert_eq!(stats.dropped_events, 0);
}

#[test]
fn route_moves_a_connection_to_another_consumer() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = std::sync::Arc::new(std::sync::Mutex::new(go_rx));
    let server = TestServer::plain(move |peer| {
        peer.send_text("1").unwrap();
        go_rx.lock().unwrap().recv().unwrap();
        peer.send_text("2").unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (first, mut first_rx) = b.consumer(64);
    let engine = b.start().unwrap();
    let h = engine.handle();
    // A consumer added at run time.
    let (second, mut second_rx) = h.add_consumer(64).unwrap();
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    let conn = h
        .add_connection(cfg, Box::new(SeqHandler::new(&[]).0), &[first])
        .unwrap();
    let mut a = Vec::new();
    collect_until(&mut first_rx, &mut a, T, "first message", |e| {
        trade_ids(e) == [1]
    });
    h.route(conn, &[second]).unwrap();
    // Commands carry no acknowledgement; give the loop ample time to apply the route.
    std::thread::sleep(Duration::from_millis(300));
    go_tx.send(()).unwrap();
    let mut b2 = Vec::new();
    collect_until(&mut second_rx, &mut b2, T, "second message", |e| {
        trade_ids(e) == [2]
    });
    std::thread::sleep(Duration::from_millis(50));
    while let Some(e) = first_rx.pop() {
        a.push(e);
    }
    assert_eq!(trade_ids(&a), [1]);
    engine.join().unwrap();
}
