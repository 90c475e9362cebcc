//! Silence is failure: unanswered pings and stale data recycle the connection.

use std::time::{Duration, Instant};

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status, statuses};
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

#[test]
fn client_pings_and_a_missing_pong_recycles_within_the_deadline() {
    // First connection: answer two pings, then stop answering (but keep reading).
    // Later connections: answer everything.
    let server = TestServer::plain(|peer| {
        if peer.index() == 0 {
            let mut pongs = 0;
            while pongs < 2 {
                match peer.read_frame(Duration::from_secs(10)) {
                    Some(f) if f.opcode == 9 => {
                        peer.send_frame(10, true, &f.payload).unwrap();
                        pongs += 1;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
            peer.serve(false, Duration::from_secs(20));
        } else {
            peer.serve(true, Duration::from_secs(20));
        }
    });
    let mut opts = test_options();
    opts.ping_interval = Some(Duration::from_millis(100));
    opts.pong_timeout = Duration::from_millis(300);
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
    collect_until(&mut consumer, &mut events, T, "reconnected", |e| {
        count_status(e, StatusKind::Connected) == 2
    });
    let s = statuses(&events);
    let down = s
        .iter()
        .find(|s| s.kind == StatusKind::Disconnected)
        .expect("disconnected status");
    assert_eq!(down.reason, Reason::PongTimeout.code());
    assert_eq!(observed.reasons.lock().unwrap()[0], Reason::PongTimeout);
    // The first unanswered ping went out right after the second pong; the recycle must come
    // within the pong timeout of it (plus generous slack for a loaded machine).
    let frames = server.frames();
    let pings: Vec<_> = frames
        .iter()
        .filter(|f| f.conn == 0 && f.opcode == 9)
        .collect();
    assert!(pings.len() >= 3, "{} pings", pings.len());
    let first_unanswered = pings[2].at;
    let ended = server.record(|r| r.ended_at.iter().find(|(c, _)| *c == 0).map(|(_, t)| *t));
    let ended = ended.expect("first connection ended");
    let took = ended.duration_since(first_unanswered);
    assert!(
        took >= Duration::from_millis(250),
        "recycled too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(300 + 1500),
        "recycled too late: {took:?}"
    );
    // The client closed with 1001 before dropping the socket.
    assert!(
        frames
            .iter()
            .any(|f| f.conn == 0 && f.close_code() == Some(1001))
    );
    let stats = engine.join().unwrap();
    assert_eq!(stats.pong_timeouts, 1);
    assert_eq!(stats.disconnects.get(Reason::PongTimeout), 1);
}

#[test]
fn stale_data_emits_stale_and_recycles() {
    let server = TestServer::plain(|peer| {
        // One message, then silence (pings are still answered: the link is fine, the feed
        // is not).
        peer.send_text("1").unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut opts = test_options();
    opts.stale_after = Some(Duration::from_millis(300));
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(256);
    let engine = b.start().unwrap();
    let (handler, _) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(opts);
    let started = Instant::now();
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        T,
        "stale then reconnected",
        |e| count_status(e, StatusKind::Stale) >= 1 && count_status(e, StatusKind::Connected) >= 2,
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let s = statuses(&events);
    let kinds: Vec<StatusKind> = s.iter().map(|s| s.kind).collect();
    let stale_at = kinds.iter().position(|k| *k == StatusKind::Stale).unwrap();
    // Stale is followed by Disconnected(stale) and Reconnecting.
    assert_eq!(kinds[stale_at + 1], StatusKind::Disconnected);
    assert_eq!(s[stale_at + 1].reason, Reason::Stale.code());
    assert_eq!(kinds[stale_at + 2], StatusKind::Reconnecting);
    let stats = engine.join().unwrap();
    assert!(stats.stale_recycles >= 1);
}
