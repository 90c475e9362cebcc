//! Handler hooks driven by the engine: the handler timer, `on_poll`, and the recycle and
//! close requests a handler can make from a callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::handler::{Context, Message, WsHandler};
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// Sends "tick N" from its timer every 20 ms (three times per session), counts `on_poll`
/// calls up to 5, recycles on the message "recycle" and closes for good on "close".
struct Hooks {
    ticks: u64,
    polls: Arc<AtomicU64>,
}

impl WsHandler for Hooks {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        self.ticks = 0;
        cx.set_timer(cx.now() + 20_000_000);
        cx.request_poll();
    }

    fn on_message(&mut self, msg: Message<'_>, cx: &mut Context<'_>) {
        match msg.payload() {
            b"recycle" => cx.recycle(Reason::Adapter),
            b"close" => cx.close(4001),
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Context<'_>) {
        self.ticks += 1;
        let _ = cx.send_text(format!("tick {}", self.ticks).as_bytes());
        if self.ticks < 3 {
            cx.set_timer(cx.now() + 20_000_000);
        }
    }

    fn on_poll(&mut self, cx: &mut Context<'_>) {
        if self.polls.fetch_add(1, Ordering::SeqCst) + 1 < 5 {
            cx.request_poll();
        }
    }
}

#[test]
fn timer_poll_recycle_and_close_requests() {
    let server = TestServer::plain(|peer| {
        // Three ticks, then ask for a recycle (first connection) or a close (second).
        for _ in 0..3 {
            if peer.read_frame(Duration::from_secs(10)).is_none() {
                return;
            }
        }
        let word = if peer.index() == 0 {
            "recycle"
        } else {
            "close"
        };
        peer.send_text(word).unwrap();
        peer.serve(true, Duration::from_secs(10));
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(64);
    let engine = b.start().unwrap();
    let polls = Arc::new(AtomicU64::new(0));
    let handler = Hooks {
        ticks: 0,
        polls: polls.clone(),
    };
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "closed for good", |e| {
        count_status(e, StatusKind::Disconnected) == 2
    });
    let s = statuses(&events);
    let downs: Vec<u16> = s
        .iter()
        .filter(|s| s.kind == StatusKind::Disconnected)
        .map(|s| s.reason)
        .collect();
    assert_eq!(downs, [Reason::Adapter.code(), Reason::Shutdown.code()]);
    // Exactly one reconnect: the close was for good.
    assert_eq!(count_status(&events, StatusKind::Reconnecting), 1);
    let frames = server.frames();
    for conn in 0..2 {
        let texts: Vec<String> = frames
            .iter()
            .filter(|f| f.conn == conn && f.opcode == 1)
            .map(|f| f.text())
            .collect();
        assert_eq!(texts, ["tick 1", "tick 2", "tick 3"], "connection {conn}");
    }
    let codes: Vec<Option<u16>> = frames
        .iter()
        .filter(|f| f.opcode == 8)
        .map(|f| f.close_code())
        .collect();
    assert_eq!(codes, [Some(1000), Some(4001)]);
    // on_poll ran until the handler stopped asking: 5 in the first session; the second
    // session's on_connect asked once more and on_poll did not ask again.
    assert_eq!(polls.load(Ordering::SeqCst), 6);
    let stats = engine.join().unwrap();
    assert_eq!(stats.disconnects.get(Reason::Adapter), 1);
    assert_eq!(stats.connects, 2);
}
