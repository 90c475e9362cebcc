//! Protocol violations by the server: the client closes with the matching code (1009, 1007,
//! 1002), counts the reason, and recycles.

use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::{Peer, TestServer};
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// First connection: send `bad` after one good message; later connections: one good message.
fn run(bad: impl Fn(&mut Peer) + Send + Sync + 'static, code: u16, reason: Reason) {
    let server = TestServer::plain(move |peer| {
        peer.send_text("1").unwrap();
        if peer.index() == 0 {
            bad(peer);
        }
        peer.serve(true, Duration::from_secs(20));
    });
    let mut opts = test_options();
    opts.max_frame = 64 * 1024;
    opts.max_message = 128 * 1024;
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(256);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        T,
        "recycled and reconnected",
        |e| count_status(e, StatusKind::Connected) == 2 && trade_ids(e).len() == 2,
    );
    server.wait_for(T, "close frame", |r| {
        r.frames.iter().any(|f| f.conn == 0 && f.opcode == 8)
    });
    let close = server
        .frames()
        .into_iter()
        .find(|f| f.conn == 0 && f.opcode == 8)
        .unwrap();
    assert_eq!(close.close_code(), Some(code));
    let down = statuses(&events)
        .into_iter()
        .find(|s| s.kind == StatusKind::Disconnected)
        .unwrap();
    assert_eq!(down.reason, reason.code());
    assert!(observed.reasons.lock().unwrap().contains(&reason));
    let stats = engine.join().unwrap();
    assert_eq!(stats.protocol_errors.get(reason), 1);
    assert_eq!(stats.protocol_errors.total(), 1);
    assert_eq!(stats.connects, 2);
}

#[test]
fn oversized_frame_closes_1009_and_recycles() {
    run(
        |peer| {
            let big = vec![b'7'; 64 * 1024 + 1];
            peer.send_frame(1, true, &big).unwrap();
        },
        1009,
        Reason::TooBig,
    );
}

#[test]
fn oversized_fragmented_message_closes_1009() {
    run(
        |peer| {
            let part = vec![b'7'; 60 * 1024];
            peer.send_frame(1, false, &part).unwrap();
            peer.send_frame(0, false, &part).unwrap();
            peer.send_frame(0, true, &part).unwrap();
        },
        1009,
        Reason::TooBig,
    );
}

#[test]
fn invalid_utf8_closes_1007_and_recycles() {
    run(
        |peer| peer.send_frame(1, true, &[b'a', 0xff, 0xfe, b'b']).unwrap(),
        1007,
        Reason::InvalidUtf8,
    );
}

#[test]
fn reserved_opcode_closes_1002() {
    run(
        |peer| peer.send_frame(3, true, b"x").unwrap(),
        1002,
        Reason::Protocol,
    );
}

#[test]
fn large_frame_within_limit_grows_the_buffer_once() {
    // 200 KiB frame with a 64 KiB initial receive buffer and a 1 MiB frame limit.
    let server = TestServer::plain(|peer| {
        let mut big = vec![b'0'; 200 * 1024];
        *big.last_mut().unwrap() = b'9';
        peer.send_frame(2, true, &big).unwrap();
        peer.send_text("5").unwrap();
        peer.serve(true, Duration::from_secs(10));
    });
    let mut opts = test_options();
    opts.rx_buffer = 64 * 1024;
    opts.max_frame = 1024 * 1024;
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler.keep_payloads()), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "both messages", |e| {
        trade_ids(e) == [5]
    });
    let payloads = observed.payloads.lock().unwrap().clone();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].len(), 200 * 1024);
    assert_eq!(payloads[0].last(), Some(&b'9'));
    let stats = engine.join().unwrap();
    assert_eq!(stats.protocol_errors.total(), 0);
}
