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
use tickwire_tests::upgrade::{Answer, UpgradeServer};

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
    // Named: the issuer is unknown (it used to be a bare "tls").
    assert!(
        s.iter()
            .all(|s| s.reason == Reason::CertUnknownIssuer.code()),
        "{s:?}"
    );
    assert!(
        observed
            .reasons
            .lock()
            .unwrap()
            .iter()
            .all(|r| *r == Reason::CertUnknownIssuer)
    );
    let stats = engine.join().unwrap();
    assert!(stats.connect_failures >= 2);
    assert_eq!(stats.connects, 0);
}

/// Connects to `url` trusting `root` (if any) and returns the reasons of the first
/// `n` Reconnecting statuses, and whether any session went live.
fn failure_reasons(
    url: &str,
    root: Option<&[u8]>,
    n: usize,
    opts: tickwire_engine::config::ConnectionOptions,
) -> (Vec<u16>, bool) {
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let mut cfg = ConnectionConfig::new(url).unwrap().options(opts);
    if let Some(der) = root {
        cfg = cfg.trust_root_der(der);
    }
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "reconnect statuses", |e| {
        count_status(e, StatusKind::Reconnecting) >= n
    });
    engine.join().unwrap();
    let reasons = statuses(&events)
        .into_iter()
        .filter(|s| s.kind == StatusKind::Reconnecting)
        .map(|s| s.reason)
        .collect();
    (reasons, count_status(&events, StatusKind::Connected) > 0)
}

#[test]
fn certificate_rejections_name_their_cause() {
    let names = ["localhost", "127.0.0.1"];
    for (cert, url_host, want) in [
        (
            TestCert::with(&names, (2000, 1, 1), (2001, 1, 1)),
            "127.0.0.1",
            Reason::CertExpired,
        ),
        (
            TestCert::with(&names, (2090, 1, 1), (2091, 1, 1)),
            "127.0.0.1",
            Reason::CertNotYetValid,
        ),
        (
            TestCert::with(&["example.com"], (2000, 1, 1), (2090, 1, 1)),
            "127.0.0.1",
            Reason::CertWrongName,
        ),
    ] {
        let server = TestServer::tls(&cert, |peer| peer.serve(true, Duration::from_secs(10)));
        let url = format!("wss://{url_host}:{}/", server.port());
        let (reasons, live) = failure_reasons(&url, Some(&cert.cert_der), 1, test_options());
        assert!(!live, "{want:?}");
        assert_eq!(reasons[0], want.code(), "{want:?}: {reasons:?}");
        assert!(want.is_certificate());
    }
}

#[test]
fn a_tls_handshake_that_never_answers_is_a_timeout() {
    // Accepts TCP, never speaks TLS (reads the ClientHello and waits).
    let server = UpgradeServer::start(|_, _| Answer::RespondAndHold(Vec::new()));
    let mut opts = test_options();
    opts.connect_timeout = Duration::from_millis(500);
    let (reasons, live) = failure_reasons(&server.wss_url("/"), None, 1, opts);
    assert!(!live);
    assert_eq!(reasons[0], Reason::TlsTimeout.code(), "{reasons:?}");
}

#[test]
fn a_bad_record_mid_stream_is_named_a_tls_record_failure() {
    let cert = TestCert::generate();
    let server = TestServer::tls(&cert, |peer| {
        if peer.index() == 0 {
            // Live first (the subscribe comes after Connected), then one good message.
            let sub = peer.read_frame(Duration::from_secs(10)).expect("subscribe");
            assert_eq!(sub.text(), "SUB t");
            peer.send_text("1").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            // An application-data record the client cannot decrypt, past TLS.
            let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
            record.extend_from_slice(&[0xA5; 32]);
            peer.send_raw_tcp(&record).unwrap();
        }
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&["t"]);
    let cfg = ConnectionConfig::new(&server.wss_url("/"))
        .unwrap()
        .trust_root_der(&cert.cert_der)
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "session lost", |e| {
        count_status(e, StatusKind::Disconnected) >= 1
    });
    engine.join().unwrap();
    assert_eq!(trade_ids(&events), [1]);
    let s = statuses(&events);
    let down = s
        .iter()
        .find(|s| s.kind == StatusKind::Disconnected)
        .unwrap();
    assert_eq!(down.reason, Reason::TlsRecord.code(), "{s:?}");
}

#[test]
fn good_data_read_with_a_bad_record_is_delivered_before_the_failure() {
    let cert = TestCert::generate();
    let server = TestServer::tls(&cert, |peer| {
        if peer.index() == 0 {
            let sub = peer.read_frame(Duration::from_secs(10)).expect("subscribe");
            assert_eq!(sub.text(), "SUB t");
            peer.send_text("1").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            // Message 2 and a record the client cannot decrypt, in one TCP segment: the
            // client decrypts 2 and fails on the next record in the same processing step.
            let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
            record.extend_from_slice(&[0xA5; 32]);
            peer.send_text_then_raw_tcp("2", &record).unwrap();
        }
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&["t"]);
    let cfg = ConnectionConfig::new(&server.wss_url("/"))
        .unwrap()
        .trust_root_der(&cert.cert_der)
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "session lost", |e| {
        count_status(e, StatusKind::Disconnected) >= 1
    });
    engine.join().unwrap();
    assert_eq!(
        trade_ids(&events),
        [1, 2],
        "message 2 was decrypted: it must be delivered"
    );
    let s = statuses(&events);
    let down = s
        .iter()
        .find(|s| s.kind == StatusKind::Disconnected)
        .unwrap();
    assert_eq!(down.reason, Reason::TlsRecord.code(), "{s:?}");
}
