//! Plain `ws://`: ordering and completeness, fragmented messages, server pings, subscriptions.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig, IdleStrategy, Profile};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_tests::consume::{collect_until, count_status, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

fn run_in_order(profile: Profile, n: u64) {
    run_in_order_with(EngineConfig::profile(profile), n);
}

fn run_in_order_with(config: EngineConfig, n: u64) {
    let server = TestServer::plain(move |peer| {
        // Wait for the subscription, then stream.
        let sub = peer
            .read_frame(Duration::from_secs(10))
            .expect("subscribe frame");
        assert_eq!(sub.text(), "SUB trades");
        peer.send_numbered(0, n).unwrap();
        peer.serve(true, Duration::from_secs(30));
    });
    let mut b = Engine::builder(config);
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&["trades"]);
    let cfg = ConnectionConfig::new(&server.ws_url("/ws?x=1"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "all messages", |e| {
        trade_ids(e).len() as u64 == n
    });
    let ids = trade_ids(&events);
    assert!(ids.iter().copied().eq(0..n), "out of order or missing");
    // Connected comes first, once.
    let first = events[0].as_status().expect("status first");
    assert_eq!(first.kind, StatusKind::Connected);
    assert_eq!(count_status(&events, StatusKind::Connected), 1);
    assert_eq!(observed.messages.load(Ordering::SeqCst), n);
    // Receive timestamps are real and non-decreasing.
    let ts: Vec<u64> = events.iter().skip(1).map(|e| e.recv_ts).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    assert!(ts[0] > 1_600_000_000_000_000_000);
    assert_eq!(
        server.record(|r| r.paths.clone()),
        vec!["/ws?x=1".to_string()]
    );
    let stats = engine.join().unwrap();
    assert_eq!(stats.messages, n);
    assert_eq!(stats.connects, 1);
    assert_eq!(stats.dropped_events, 0);
    assert_eq!(stats.protocol_errors.total(), 0);
}

#[test]
fn hundred_thousand_messages_arrive_in_order_blocking() {
    run_in_order(Profile::Standard, 100_000);
}

#[test]
fn hundred_thousand_messages_arrive_in_order_spinning() {
    run_in_order(Profile::LowLatency, 100_000);
}

#[test]
fn busy_spin_delivers_in_order() {
    let config = EngineConfig {
        idle: IdleStrategy::BusySpin,
        ..EngineConfig::profile(Profile::LowLatency)
    };
    run_in_order_with(config, 10_000);
}

#[test]
fn host_names_go_through_the_resolver() {
    // `localhost` may resolve to ::1 first; the server listens on 127.0.0.1 only, so this
    // also exercises falling through to the next address.
    let server = TestServer::plain(|peer| {
        peer.send_text("42").unwrap();
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&format!("ws://localhost:{}/", server.port()))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "message", |e| {
        trade_ids(e) == [42]
    });
    engine.join().unwrap();
}

#[test]
fn fragmented_messages_are_reassembled() {
    let server = TestServer::plain(|peer| {
        peer.send_fragmented(&[b"hel", b"lo ", b"world"]).unwrap();
        // A ping between fragments is legal and must be answered.
        peer.send_frame(1, false, b"12").unwrap();
        peer.send_ping(b"mid").unwrap();
        peer.send_frame(0, false, b"34").unwrap();
        peer.send_frame(0, true, b"5").unwrap();
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1024);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler.keep_payloads()), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "reassembled number", |e| {
        !trade_ids(e).is_empty()
    });
    assert_eq!(trade_ids(&events), vec![12345]);
    let payloads = observed.payloads.lock().unwrap().clone();
    assert_eq!(payloads, vec![b"hello world".to_vec(), b"12345".to_vec()]);
    server.wait_for(T, "pong", |r| r.frames.iter().any(|f| f.opcode == 10));
    let pong = server
        .frames()
        .into_iter()
        .find(|f| f.opcode == 10)
        .unwrap();
    assert_eq!(pong.payload, b"mid");
    engine.join().unwrap();
}

#[test]
fn server_pings_are_answered_with_the_same_payload() {
    let server = TestServer::plain(|peer| {
        for i in 0..5u8 {
            peer.send_ping(&[i, i, i]).unwrap();
        }
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, _consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    server.wait_for(T, "five pongs", |r| {
        r.frames.iter().filter(|f| f.opcode == 10).count() == 5
    });
    let pongs: Vec<Vec<u8>> = server
        .frames()
        .into_iter()
        .filter(|f| f.opcode == 10)
        .map(|f| f.payload)
        .collect();
    assert_eq!(pongs, (0..5u8).map(|i| vec![i, i, i]).collect::<Vec<_>>());
    engine.join().unwrap();
}

#[test]
fn subscribe_unsubscribe_and_send_go_through_the_handle() {
    let server = TestServer::plain(|peer| peer.serve(true, Duration::from_secs(20)));
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&["a"]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .header("X-Api-Key", "k1")
        .options(test_options());
    let h = engine.handle();
    let conn = h.add_connection(cfg, Box::new(handler), &[cid]).unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "connected", |e| {
        count_status(e, StatusKind::Connected) == 1
    });
    h.subscribe(conn, vec!["b".into(), "c".into()]).unwrap();
    h.unsubscribe(conn, vec!["a".into()]).unwrap();
    h.send_text(conn, "hello").unwrap();
    server.wait_for(T, "frames", |r| r.frames.len() >= 5);
    let texts: Vec<String> = server.frames().iter().map(|f| f.text()).collect();
    assert_eq!(texts, ["SUB a", "SUB b", "SUB c", "UNSUB a", "hello"]);
    let headers = server.record(|r| r.headers[0].clone());
    assert!(headers.contains(&("x-api-key".to_string(), "k1".to_string())));
    engine.join().unwrap();
}
