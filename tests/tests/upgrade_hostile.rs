//! Servers that answer the HTTP upgrade badly: a refusal with `Retry-After`, a close right
//! after accept, a 101 choosing an extension or subprotocol never offered. Each is named for
//! what it is, and a refusal's `Retry-After` is waited before the next attempt.

use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::{Event, StatusKind};
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::test_options;
use tickwire_tests::upgrade::{Answer, UpgradeServer, switching_protocols};

const T: Duration = Duration::from_secs(30);

/// Connects to `server` and collects events until `reconnects` Reconnecting statuses.
fn attempts(server: &UpgradeServer, reconnects: usize) -> Vec<Event> {
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(256);
    let engine = b.start().unwrap();
    let (handler, _observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/ws"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "reconnect statuses", |e| {
        count_status(e, StatusKind::Reconnecting) >= reconnects
    });
    engine.join().unwrap();
    events
}

fn reconnect_reasons(events: &[Event]) -> Vec<u16> {
    statuses(events)
        .into_iter()
        .filter(|s| s.kind == StatusKind::Reconnecting)
        .map(|s| s.reason)
        .collect()
}

#[test]
fn a_refusal_with_retry_after_is_waited_before_the_next_attempt() {
    // 429 then 503, each asking for 2 s; the test backoff alone would retry within 50 ms.
    let server = UpgradeServer::start(|i, head| {
        if head.is_empty() {
            return Answer::Respond(Vec::new());
        }
        let status = if i % 2 == 0 {
            "429 Too Many Requests"
        } else {
            "503 Service Unavailable"
        };
        Answer::Respond(
            format!("HTTP/1.1 {status}\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
                .into_bytes(),
        )
    });
    let events = attempts(&server, 2);
    assert_eq!(
        reconnect_reasons(&events)[..2],
        [Reason::UpgradeBusy.code(); 2]
    );
    assert_eq!(count_status(&events, StatusKind::Connected), 0);
    let at = server.accepted();
    assert!(at.len() >= 2, "{} attempts", at.len());
    for w in at.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    }
}

#[test]
fn a_close_right_after_accept_is_named_as_such() {
    let server = UpgradeServer::start(|_, _| Answer::CloseAtOnce);
    let events = attempts(&server, 2);
    let reasons = reconnect_reasons(&events);
    assert!(
        reasons.iter().all(|r| *r == Reason::UpgradeClosed.code()),
        "{reasons:?}"
    );
}

#[test]
fn a_101_choosing_an_extension_never_offered_fails_the_connection() {
    let server = UpgradeServer::start(|_, head| {
        if head.is_empty() {
            return Answer::Respond(Vec::new());
        }
        // The request offers no extension (the engine has none to offer).
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions"),
            "{head}"
        );
        Answer::RespondAndHold(switching_protocols(
            head,
            "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        ))
    });
    let events = attempts(&server, 2);
    assert_eq!(count_status(&events, StatusKind::Connected), 0);
    let reasons = reconnect_reasons(&events);
    assert!(
        reasons.iter().all(|r| *r == Reason::Protocol.code()),
        "{reasons:?}"
    );
}

#[test]
fn a_101_choosing_a_subprotocol_never_offered_fails_the_connection() {
    let server = UpgradeServer::start(|_, head| {
        if head.is_empty() {
            return Answer::Respond(Vec::new());
        }
        Answer::RespondAndHold(switching_protocols(
            head,
            "Sec-WebSocket-Protocol: chat\r\n",
        ))
    });
    let events = attempts(&server, 2);
    assert_eq!(count_status(&events, StatusKind::Connected), 0);
    let reasons = reconnect_reasons(&events);
    assert!(
        reasons.iter().all(|r| *r == Reason::Handshake.code()),
        "{reasons:?}"
    );
}
