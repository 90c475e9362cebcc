//! `wss://` against a loopback rustls server with a self-signed (non-CA) certificate that the
//! client trusts through `ConnectionConfig::trust_root_der`.

use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;
use tickwire_tests::tls::TestCert;

const T: Duration = Duration::from_secs(30);

#[test]
fn tls_messages_arrive_in_order_and_pings_are_answered() {
    let cert = TestCert::generate();
    let n = 20_000;
    let server = TestServer::tls(&cert, move |peer| {
        let sub = peer.read_frame(Duration::from_secs(10)).expect("subscribe");
        assert_eq!(sub.text(), "SUB t");
        peer.send_numbered(0, n).unwrap();
        peer.send_ping(b"tls").unwrap();
        peer.serve(true, Duration::from_secs(30));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1 << 16);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&["t"]);
    let cfg = ConnectionConfig::new(&server.wss_url("/secure"))
        .unwrap()
        .trust_root_der(&cert.cert_der)
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "all messages", |e| {
        trade_ids(e).len() as u64 == n
    });
    assert!(trade_ids(&events).into_iter().eq(0..n));
    server.wait_for(T, "pong", |r| {
        r.frames
            .iter()
            .any(|f| f.opcode == 10 && f.payload == b"tls")
    });
    let stats = engine.join().unwrap();
    assert_eq!(stats.messages, n);
    // Shutdown sent a close frame with 1000 over TLS.
    server.wait_for(T, "close", |r| {
        r.frames.iter().any(|f| f.close_code() == Some(1000))
    });
}

#[test]
fn tls_ip_literal_uses_the_ip_san() {
    let cert = TestCert::generate();
    let server = TestServer::tls(&cert, |peer| {
        peer.send_text("7").unwrap();
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let url = format!("wss://127.0.0.1:{}/", server.port());
    let cfg = ConnectionConfig::new(&url)
        .unwrap()
        .trust_root_der(&cert.cert_der)
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "message", |e| {
        trade_ids(e) == [7]
    });
    engine.join().unwrap();
}

#[test]
fn untrusted_certificate_fails_the_attempt_and_backs_off() {
    let cert = TestCert::generate();
    let server = TestServer::tls(&cert, |peer| peer.serve(true, Duration::from_secs(10)));
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    // No extra root: the self-signed certificate is not trusted.
    let cfg = ConnectionConfig::new(&server.wss_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        T,
        "two reconnect statuses",
        |e| count_status(e, StatusKind::Reconnecting) >= 2,
    );
    assert_eq!(count_status(&events, StatusKind::Connected), 0);
    let s = statuses(&events);
    assert!(s.iter().all(|s| s.reason == Reason::Tls.code()), "{s:?}");
    assert!(
        observed
            .reasons
            .lock()
            .unwrap()
            .iter()
            .all(|r| *r == Reason::Tls)
    );
    let stats = engine.join().unwrap();
    assert!(stats.connect_failures >= 2);
    assert_eq!(stats.connects, 0);
}
