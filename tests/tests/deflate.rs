//! permessage-deflate (RFC 7692) end to end against the loopback server: the offer, the
//! server's answer (window bits both ways, context takeover on and off), compressed and
//! fragmented compressed messages inflated in order, and the failures: an answer that breaks
//! the RFC, a decompression bomb (1009), RSV1 where it may not be (1002).

use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, ConnectionOptions, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::{Event, StatusKind};
use tickwire_engine::reason::Reason;
use tickwire_engine::ring::Consumer;
use tickwire_engine::ws::DeflateOffer;
use tickwire_tests::consume::{collect_until, count_status, statuses, trade_ids};
use tickwire_tests::handlers::{Observed, SeqHandler};
use tickwire_tests::server::{Peer, TestServer, frame_into};
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// Answers the way most servers do: accept permessage-deflate with `answer` when offered.
fn accept_with(answer: &'static str) -> impl Fn(Option<&str>) -> Option<String> + Send + Sync {
    move |offer| {
        offer
            .filter(|o| o.starts_with("permessage-deflate"))
            .map(|_| answer.to_string())
    }
}

fn options(offer: Option<DeflateOffer>) -> ConnectionOptions {
    let mut opts = test_options();
    opts.deflate = offer;
    opts.max_frame = 256 * 1024;
    opts.max_message = 512 * 1024;
    opts
}

fn connect(
    server: &TestServer,
    opts: ConnectionOptions,
    handler: SeqHandler,
) -> (tickwire_engine::engine::Engine, Consumer) {
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, consumer) = b.consumer(1 << 12);
    let engine = b.start().unwrap();
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    (engine, consumer)
}

/// A depth-shaped JSON text of about `n` bytes (compresses well, like the venue's).
fn depth_text(n: usize) -> Vec<u8> {
    let mut s = String::from(r#"{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","b":["#);
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            r#"["{}.{:02}000000","0.{:08}"],"#,
            61_837 - i / 100,
            i % 100,
            (i * 7_919) % 100_000_000
        ));
        i += 1;
    }
    s.push_str(r#"["1.00000000","0.00000000"]]}"#);
    s.into_bytes()
}

/// What the round-trip script sends, in order, as the client must see it.
fn round_trip_script(peer: &mut Peer) -> Vec<Vec<u8>> {
    assert!(peer.deflating(), "the upgrade should have accepted deflate");
    let mut sent: Vec<Vec<u8>> = Vec::new();
    peer.send_numbered(0, 300).unwrap();
    sent.extend((0..300u64).map(|i| i.to_string().into_bytes()));
    // One big text message in five compressed fragments, a ping in the middle of it.
    let big = depth_text(200_000);
    let c = peer.compress(&big);
    let step = c.len() / 5;
    let mut bytes = Vec::new();
    for k in 0..5 {
        let end = if k == 4 { c.len() } else { (k + 1) * step };
        let first = bytes.len();
        frame_into(
            &mut bytes,
            if k == 0 { 1 } else { 0 },
            k == 4,
            &c[k * step..end],
        );
        if k == 0 {
            bytes[first] |= 0x40;
        }
        if k == 2 {
            frame_into(&mut bytes, 9, true, b"mid");
        }
    }
    peer.send_raw(&bytes).unwrap();
    sent.push(big);
    // A compressed binary message cut into single-byte-ish fragments.
    let bin = depth_text(3_000);
    peer.send_compressed(2, &bin, &[1, 2, 3, 50]).unwrap();
    sent.push(bin);
    // An uncompressed message between compressed ones (RSV1 is per message).
    peer.send_frame(1, true, b"plain").unwrap();
    sent.push(b"plain".to_vec());
    peer.send_numbered(300, 300).unwrap();
    sent.extend((300..600u64).map(|i| i.to_string().into_bytes()));
    sent
}

fn round_trip(offer: DeflateOffer, answer: &'static str, want_offer: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = TestServer::plain_with_extensions(accept_with(answer), move |peer| {
        let sent = round_trip_script(peer);
        tx.lock().unwrap().send(sent).unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let (handler, observed) = SeqHandler::new(&["t"]);
    let (engine, mut consumer) = connect(&server, options(Some(offer)), handler.keep_payloads());
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "600 messages", |e| {
        trade_ids(e).len() == 600
    });
    let sent = rx.recv_timeout(T).unwrap();
    wait_payloads(&observed, sent.len());
    let got = observed.payloads.lock().unwrap().clone();
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert!(g == s, "message {i}: {} bytes, want {}", g.len(), s.len());
    }
    assert_eq!(trade_ids(&events), (0..600).collect::<Vec<u64>>());
    // The offer as sent, and the client's own frames uncompressed (the subscribe arrives as
    // plain text: the server reads it without inflating).
    let offered = server.record(|r| {
        r.headers[0]
            .iter()
            .find(|(k, _)| k == "sec-websocket-extensions")
            .map(|(_, v)| v.clone())
    });
    assert_eq!(offered.as_deref(), Some(want_offer));
    server.wait_for(T, "the subscribe", |r| {
        r.frames
            .iter()
            .any(|f| f.opcode == 1 && f.payload == b"SUB t")
    });
    assert_eq!(count_status(&events, StatusKind::Disconnected), 0);
    let stats = engine.join().unwrap();
    assert_eq!(stats.protocol_errors.total(), 0);
    assert_eq!(stats.connects, 1);
}

fn wait_payloads(observed: &Observed, n: usize) {
    let deadline = std::time::Instant::now() + T;
    while observed.payloads.lock().unwrap().len() < n {
        assert!(std::time::Instant::now() < deadline, "payloads missing");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn round_trip_with_context_takeover() {
    round_trip(
        DeflateOffer::default(),
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
    );
}

#[test]
fn round_trip_without_context_takeover() {
    let offer = DeflateOffer {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateOffer::default()
    };
    round_trip(
        offer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits; server_no_context_takeover; \
         client_no_context_takeover",
    );
    // The server may turn context takeover off without being asked (RFC 7692 7.1.1.1).
    round_trip(
        DeflateOffer::default(),
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits",
    );
}

#[test]
fn window_bits_negotiated_both_ways() {
    let offer = DeflateOffer {
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    round_trip(
        offer,
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
    );
    // A server may pick a smaller window than asked, or name one unasked.
    round_trip(
        offer,
        "permessage-deflate; server_max_window_bits=9",
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
    );
    round_trip(
        DeflateOffer::default(),
        "permessage-deflate; server_max_window_bits=11",
        "permessage-deflate; client_max_window_bits",
    );
}

/// An answer that breaks RFC 7692: the upgrade fails as a protocol error, never a session.
fn refused(offer: DeflateOffer, answer: &'static str) {
    let server = TestServer::plain_with_extensions(
        move |_| Some(answer.to_string()),
        |peer| {
            let _ = peer.send_text("1");
            peer.serve(true, Duration::from_secs(5));
        },
    );
    let (handler, observed) = SeqHandler::new(&[]);
    let (engine, mut consumer) = connect(&server, options(Some(offer)), handler);
    let mut events: Vec<Event> = Vec::new();
    collect_until(&mut consumer, &mut events, T, "a retry", |e| {
        count_status(e, StatusKind::Reconnecting) >= 2
    });
    assert_eq!(count_status(&events, StatusKind::Connected), 0, "{answer}");
    assert!(
        statuses(&events)
            .iter()
            .filter(|s| s.kind == StatusKind::Reconnecting)
            .all(|s| s.reason == Reason::Protocol.code()),
        "{answer}: {:?}",
        statuses(&events)
    );
    assert!(observed.reasons.lock().unwrap().contains(&Reason::Protocol));
    assert!(trade_ids(&events).is_empty());
    let stats = engine.join().unwrap();
    assert_eq!(stats.messages, 0);
}

#[test]
fn invalid_answers_fail_the_upgrade() {
    let asked = DeflateOffer {
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    // A window larger than offered.
    refused(asked, "permessage-deflate; server_max_window_bits=12");
    // A parameter nobody offered.
    refused(DeflateOffer::default(), "permessage-deflate; mystery=1");
    // Out-of-range and value-less window sizes.
    refused(
        DeflateOffer::default(),
        "permessage-deflate; server_max_window_bits=7",
    );
    refused(
        DeflateOffer::default(),
        "permessage-deflate; client_max_window_bits",
    );
    // A repeated parameter, another extension.
    refused(
        DeflateOffer::default(),
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    );
    refused(
        DeflateOffer::default(),
        "permessage-deflate, x-webkit-deflate-frame",
    );
}

/// First connection: a good compressed message, then `bad`; later ones: a good message.
/// The client closes with `code`, counts `reason` once and recycles.
fn violation(
    offer: Option<DeflateOffer>,
    bad: impl Fn(&mut Peer) + Send + Sync + 'static,
    code: u16,
    reason: Reason,
) {
    let server =
        TestServer::plain_with_extensions(accept_with("permessage-deflate"), move |peer| {
            peer.send_text("1").unwrap();
            if peer.index() == 0 {
                bad(peer);
            }
            peer.serve(true, Duration::from_secs(20));
        });
    let mut opts = options(offer);
    opts.max_frame = 64 * 1024;
    opts.max_message = 128 * 1024;
    let (handler, observed) = SeqHandler::new(&[]);
    let (engine, mut consumer) = connect(&server, opts, handler);
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
fn decompression_bomb_closes_1009() {
    // 16 MiB of zeros in about 16 KiB: one frame well under max_frame (64 KiB) that
    // inflates far past max_message (128 KiB).
    violation(
        Some(DeflateOffer::default()),
        |peer| {
            let bomb = vec![0u8; 16 << 20];
            peer.send_compressed(2, &bomb, &[]).unwrap();
        },
        1009,
        Reason::TooBig,
    );
    // The same bomb in many small fragments: each is small, the message is not.
    violation(
        Some(DeflateOffer::default()),
        |peer| {
            let bomb = vec![b'a'; 16 << 20];
            let cuts: Vec<usize> = (1..64).map(|i| i * 256).collect();
            peer.send_compressed(1, &bomb, &cuts).unwrap();
        },
        1009,
        Reason::TooBig,
    );
}

#[test]
fn rsv1_without_negotiation_is_a_protocol_error() {
    // Nothing offered and nothing answered, yet the server sets RSV1.
    violation(
        None,
        |peer| peer.send_raw(&[0xC1, 0x03, 0x4a, 0x04, 0x00]).unwrap(),
        1002,
        Reason::Protocol,
    );
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_is_a_protocol_error() {
    violation(
        Some(DeflateOffer::default()),
        |peer| {
            let c = peer.compress(b"hello, fragmented world");
            let mut bytes = Vec::new();
            frame_into(&mut bytes, 1, false, &c[..2]);
            bytes[0] |= 0x40;
            let second = bytes.len();
            frame_into(&mut bytes, 0, true, &c[2..]);
            bytes[second] |= 0x40;
            peer.send_raw(&bytes).unwrap();
        },
        1002,
        Reason::Protocol,
    );
    violation(
        Some(DeflateOffer::default()),
        |peer| peer.send_raw(&[0xC9, 0x01, b'p']).unwrap(),
        1002,
        Reason::Protocol,
    );
}
