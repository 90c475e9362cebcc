//! One connection whose peer sends faster than its handler keeps up must not hold the I/O
//! loop: commands, other connections and shutdown still get their turn (a read budget per
//! connection and turn). Found with `tickwire demo --venue okx` in a debug build on a loaded
//! machine: the loop read the simulator's backlog for good and `Engine::join` never returned.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::handler::{Context, Message, WsHandler};
use tickwire_tests::consume::{collect_until, trade_ids};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// Spends `cost` of CPU on every message: slower than the flooding peer can send.
struct SlowHandler {
    cost: Duration,
    seen: Arc<AtomicU64>,
}

impl WsHandler for SlowHandler {
    fn on_message(&mut self, _msg: Message<'_>, _cx: &mut Context<'_>) {
        let until = Instant::now() + self.cost;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// A server that keeps the socket full: 64 KiB writes of small unmasked text frames, for as
/// long as the client reads (up to 60 s).
fn flooding_server() -> TestServer {
    TestServer::plain(|peer| {
        let payload = b"{\"flood\":1}";
        let mut chunk = Vec::with_capacity(64 * 1024 + 16);
        while chunk.len() < 64 * 1024 {
            chunk.push(0x81);
            chunk.push(payload.len() as u8);
            chunk.extend_from_slice(payload);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if peer.send_raw(&chunk).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_flooded_connection_leaves_room_for_commands_other_connections_and_shutdown() {
    let flood = flooding_server();
    let paced = TestServer::plain(|peer| {
        for i in 1..=2_000u32 {
            if peer.send_text(&i.to_string()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let config = EngineConfig {
        shutdown_timeout: Duration::from_millis(300),
        ..EngineConfig::default()
    };
    let mut b = Engine::builder(config);
    let (cid, mut consumer) = b.consumer(1024);
    let engine = b.start().unwrap();
    let handle = engine.handle();
    let seen = Arc::new(AtomicU64::new(0));
    let slow = SlowHandler {
        cost: Duration::from_micros(50),
        seen: seen.clone(),
    };
    let cfg = ConnectionConfig::new(&flood.ws_url("/"))
        .unwrap()
        .options(test_options());
    handle.add_connection(cfg, Box::new(slow), &[]).unwrap();
    // The flood is being read (and the socket stays full: 64 KiB is ~4,000 messages, 200 ms
    // of handler time, per write) before the second connection is asked for.
    let t0 = Instant::now();
    while seen.load(Ordering::Relaxed) < 10_000 {
        assert!(t0.elapsed() < T, "the flooding connection never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A command (add a connection) and the other connection's messages get through while
    // the flood goes on.
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&paced.ws_url("/"))
        .unwrap()
        .options(test_options());
    handle
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        T,
        "the paced connection's first 20 messages during the flood",
        |e| trade_ids(e).len() >= 20,
    );
    assert_eq!(trade_ids(&events)[..20], (1..=20).collect::<Vec<u64>>()[..]);
    // Shutdown is not starved either: the join returns within the shutdown timeout (plus
    // scheduling slack), not when the flood ends.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(engine.join().map(|s| s.messages));
    });
    let messages = rx
        .recv_timeout(T)
        .expect("Engine::join did not return while the peer kept flooding")
        .unwrap();
    assert!(messages >= 10_020, "{messages}");
}
