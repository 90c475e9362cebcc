//! Issue 16: a backlog read in one loop turn reached a consumer sharing the I/O thread's core
//! only after the whole of it was handled (every event of it waited for the last: a p99 of
//! ~2 ms after each stall). Reading now pauses, and the loop yields, once the consumer's ring
//! holds more than `EngineConfig::yield_backlog` unread events and the consumer has stood
//! still for `EngineConfig::yield_stall`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tickwire_engine::config::{
    ConnectionConfig, EngineConfig, LOW_LATENCY_YIELD_BACKLOG, LOW_LATENCY_YIELD_STALL, Profile,
};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::stats::EngineStats;
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

/// Messages of the burst: far fewer events than the congestion bound of the ring below
/// (three quarters of 65,536), far more than the backlog bound.
const N: u64 = 3000;

/// Sends `N` numbered trades in one burst to an engine with `config` whose consumer does not
/// read until every message is handled; then checks each arrived once, in order, and returns
/// the engine's statistics.
fn burst_unread(config: EngineConfig) -> EngineStats {
    let server = TestServer::plain(move |peer| {
        peer.send_numbered(0, N).unwrap();
        peer.serve(true, Duration::from_secs(20));
    });
    let mut b = Engine::builder(config);
    let (cid, mut consumer) = b.consumer(1 << 16);
    let engine = b.start().unwrap();
    let (handler, observed) = SeqHandler::new(&[]);
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while observed.messages.load(Ordering::SeqCst) < N {
        assert!(Instant::now() < deadline, "messages not handled");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut ids = Vec::new();
    while let Some(e) = consumer.pop() {
        if let Some(t) = e.as_trade() {
            ids.push(t.id);
        } else {
            let kind = e.as_status().map(|s| s.kind);
            assert_eq!(kind, Some(StatusKind::Connected), "unexpected event");
        }
    }
    assert_eq!(
        ids,
        (0..N).collect::<Vec<_>>(),
        "every trade once, in order"
    );
    let stats = engine.join().unwrap();
    assert_eq!(stats.dropped_events, 0);
    stats
}

#[test]
fn reading_pauses_once_the_consumer_is_a_backlog_behind() {
    let config = EngineConfig::profile(Profile::LowLatency);
    assert_eq!(config.yield_backlog, LOW_LATENCY_YIELD_BACKLOG);
    assert_eq!(config.yield_stall, LOW_LATENCY_YIELD_STALL);
    let stats = burst_unread(config);
    // The consumer never reads here: once it is 64 events behind and has stood still for
    // 20 us, every further message is followed by a pause. Those handled within the
    // first 20 us are far fewer than half the burst. Before the fix reading paused only
    // at three quarters of the ring: never here.
    let bound = N / 2;
    assert!(
        stats.congestion_pauses >= bound,
        "{} pauses, expected at least {bound}",
        stats.congestion_pauses
    );
}

#[test]
fn by_size_alone_reading_pauses_past_the_backlog() {
    let config = EngineConfig {
        yield_stall: Duration::ZERO,
        ..EngineConfig::profile(Profile::LowLatency)
    };
    let stats = burst_unread(config);
    // Past 64 unread events every further message is followed by a pause: at least
    // N - 64 - 1 (the `Connected` status is an event too).
    let bound = N - LOW_LATENCY_YIELD_BACKLOG as u64 - 1;
    assert!(
        stats.congestion_pauses >= bound,
        "{} pauses, expected at least {bound}",
        stats.congestion_pauses
    );
}

#[test]
fn without_a_backlog_bound_reading_pauses_only_on_congestion() {
    let config = EngineConfig {
        yield_backlog: usize::MAX,
        ..EngineConfig::profile(Profile::LowLatency)
    };
    let stats = burst_unread(config);
    assert_eq!(stats.congestion_pauses, 0);
}
