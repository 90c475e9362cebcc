//! Issue 19 item 3: a panic in a handler callback is contained to its connection (reported
//! in-band as `Disconnected` with reason `HandlerPanic`, closed for good, counted), and a
//! panic that still stops the I/O thread is seen by every consumer and handle at once.

use std::time::{Duration, Instant};

use tickwire_engine::command::CommandError;
use tickwire_engine::config::{ConnectionConfig, EngineConfig, Profile};
use tickwire_engine::engine::{Engine, EngineError};
use tickwire_engine::event::{Event, StatusKind};
use tickwire_engine::handler::{Context, Message, WsHandler};
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, statuses, trade_ids};
use tickwire_tests::handlers::{SeqHandler, parse_seq};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// Where a [`Panicky`] handler panics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PanicAt {
    /// On the data message whose payload is this number.
    Message(u64),
    /// On a run-time subscribe.
    Subscribe,
    /// When dropped (the engine drops a handler when its connection is removed).
    Drop,
}

struct Panicky {
    at: PanicAt,
    topic: &'static str,
}

impl WsHandler for Panicky {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let _ = cx.send_text(format!("SUB {}", self.topic).as_bytes());
    }

    fn on_message(&mut self, msg: Message<'_>, _cx: &mut Context<'_>) {
        if PanicAt::Message(parse_seq(msg.payload()).unwrap_or(u64::MAX)) == self.at {
            panic!("handler bug on message");
        }
    }

    fn on_subscribe(&mut self, _topics: &[String], _cx: &mut Context<'_>) {
        if self.at == PanicAt::Subscribe {
            panic!("handler bug on subscribe");
        }
    }
}

impl Drop for Panicky {
    fn drop(&mut self) {
        if self.at == PanicAt::Drop && !std::thread::panicking() {
            panic!("handler bug on drop");
        }
    }
}

/// Server: every connection reads its `SUB <name>` frame; `good` gets 0..5, then (after a
/// pause in which the others panic) 5..10; the others get 0..5. Then each serves.
fn server() -> TestServer {
    TestServer::plain(|peer| {
        let Some(sub) = peer.read_frame(Duration::from_secs(10)) else {
            return;
        };
        let _ = peer.send_numbered(0, 5);
        if sub.text() == "SUB good" {
            std::thread::sleep(Duration::from_millis(300));
            let _ = peer.send_numbered(5, 5);
        }
        peer.serve(true, Duration::from_secs(20));
    })
}

fn disconnects(events: &[Event]) -> Vec<Option<Reason>> {
    statuses(events)
        .iter()
        .filter(|s| s.kind == StatusKind::Disconnected)
        .map(|s| Reason::from_code(s.reason))
        .collect()
}

/// A panic in `on_message` on one connection, and one in `on_subscribe` on another: each
/// is reported on its own connection and closes it for good (close code 1011, no
/// reconnect); the third connection, the handle and the engine go on.
#[test]
fn a_handler_panic_closes_only_its_connection() {
    let server = server();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (c_msg, mut on_msg) = b.consumer(1 << 10);
    let (c_sub, mut on_sub) = b.consumer(1 << 10);
    let (c_good, mut good) = b.consumer(1 << 10);
    let engine = b.start().unwrap();
    let h = engine.handle();
    let cfg = || {
        ConnectionConfig::new(&server.ws_url("/ws"))
            .unwrap()
            .options(test_options())
    };
    let panicky = |at, topic| Box::new(Panicky { at, topic });
    h.add_connection(cfg(), panicky(PanicAt::Message(2), "msg"), &[c_msg])
        .unwrap();
    let sub_conn = h
        .add_connection(cfg(), panicky(PanicAt::Subscribe, "sub"), &[c_sub])
        .unwrap();
    let (seq, _) = SeqHandler::new(&["good"]);
    let good_conn = h.add_connection(cfg(), Box::new(seq), &[c_good]).unwrap();

    let mut ev_msg = Vec::new();
    collect_until(&mut on_msg, &mut ev_msg, T, "the on_message panic", |e| {
        !disconnects(e).is_empty()
    });
    let mut ev_sub = Vec::new();
    collect_until(&mut on_sub, &mut ev_sub, T, "connected", |e| {
        statuses(e).iter().any(|s| s.kind == StatusKind::Connected)
    });
    h.subscribe(sub_conn, vec!["more".into()]).unwrap();
    collect_until(&mut on_sub, &mut ev_sub, T, "the on_subscribe panic", |e| {
        !disconnects(e).is_empty()
    });
    // The healthy connection gets everything, including what was sent after the panics.
    let mut ev_good = Vec::new();
    collect_until(&mut good, &mut ev_good, T, "all 10 messages", |e| {
        trade_ids(e).len() == 10
    });
    assert_eq!(trade_ids(&ev_good), (0..10).collect::<Vec<_>>());
    assert!(disconnects(&ev_good).is_empty());

    for ev in [&ev_msg, &ev_sub] {
        assert_eq!(disconnects(ev), vec![Some(Reason::HandlerPanic)]);
    }
    // Closed for good: no reconnect within several backoff periods (base 50 ms).
    std::thread::sleep(Duration::from_millis(600));
    for (c, ev) in [(&mut on_msg, &mut ev_msg), (&mut on_sub, &mut ev_sub)] {
        while let Some(e) = c.pop() {
            ev.push(e);
        }
        let kinds: Vec<StatusKind> = statuses(ev).iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            vec![StatusKind::Connected, StatusKind::Disconnected],
            "no reconnect"
        );
    }
    assert_eq!(server.accepted(), 3);
    server.wait_for(Duration::from_secs(10), "two 1011 closes", |r| {
        r.frames
            .iter()
            .filter(|f| f.close_code() == Some(1011))
            .count()
            == 2
    });
    // The engine and the handle still work.
    assert!(!h.is_stopped());
    assert_eq!(h.subscribe(good_conn, vec!["x".into()]), Ok(()));
    let stats = engine.join().unwrap();
    assert_eq!(stats.handler_panics, 2);
    assert_eq!(stats.disconnects.get(Reason::HandlerPanic), 2);
}

/// A panic that escapes the I/O loop (here a handler's `Drop`, run when its connection is
/// removed): every consumer hears `Disconnected` (reason `EnginePanic`), the handle says it
/// stopped and refuses commands, and `join` reports the panic.
#[test]
fn an_engine_panic_is_seen_by_every_consumer_and_handle() {
    let server = server();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (c_bad, _bad) = b.consumer(1 << 10);
    let (c_good, mut good) = b.consumer(1 << 10);
    let engine = b.start().unwrap();
    let h = engine.handle();
    let cfg = || {
        ConnectionConfig::new(&server.ws_url("/ws"))
            .unwrap()
            .options(test_options())
    };
    let bad = h
        .add_connection(
            cfg(),
            Box::new(Panicky {
                at: PanicAt::Drop,
                topic: "drop",
            }),
            &[c_bad],
        )
        .unwrap();
    let (seq, _) = SeqHandler::new(&["good"]);
    let good_conn = h.add_connection(cfg(), Box::new(seq), &[c_good]).unwrap();
    let mut ev = Vec::new();
    collect_until(&mut good, &mut ev, T, "all 10 messages", |e| {
        trade_ids(e).len() == 10
    });
    h.remove(bad).unwrap();
    collect_until(&mut good, &mut ev, T, "the engine's stop", |e| {
        disconnects(e).contains(&Some(Reason::EnginePanic))
    });
    // Set before the status was published.
    assert!(h.is_stopped());
    assert_eq!(
        h.subscribe(good_conn, vec!["x".into()]),
        Err(CommandError::Stopped)
    );
    let deadline = Instant::now() + T;
    while !good.is_abandoned() {
        assert!(Instant::now() < deadline, "the ring was never released");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(engine.join().err(), Some(EngineError::Panicked));
}
