//! The I/O thread sleeps while a snapshot request is in flight (issue 18 item 5): with a
//! REST server sending its body at 1 byte/s, the Standard (blocking) profile must not spin
//! on the snapshot answer. Measured as the I/O thread's own CPU time (from
//! `/proc/self/task/<tid>/stat`), not as a timing: on a loaded machine a sleeping thread
//! only uses less.

use std::time::{Duration, Instant};

use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tests::rest::{RestReply, RestServer, depth_body, stream_depth_diffs, thread_cpu};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

#[test]
fn io_thread_sleeps_while_a_snapshot_body_trickles_in() {
    let rest = RestServer::start(|_, _| {
        RestReply::ok(depth_body(1000, &[("100.0", "1")], &[("101.0", "1")]))
            .trickle(Duration::from_secs(1))
    });
    let ws = TestServer::plain(|peer| {
        stream_depth_diffs(
            peer,
            1000,
            Duration::from_millis(10),
            Duration::from_secs(30),
        );
    });
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 16);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT"])
        .channels(&[Channel::Depth(DepthSpeed::Ms100)])
        .url(&ws.ws_url("/stream"))
        .rest_url(&rest.url())
        .rotation(None)
        .options(test_options())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    // Wait until the snapshot request is in flight (the server has read it).
    let deadline = Instant::now() + Duration::from_secs(20);
    while rest.requests().is_empty() {
        assert!(Instant::now() < deadline, "no snapshot request");
        std::thread::sleep(Duration::from_millis(10));
        while consumer.pop().is_some() {}
    }
    let cpu0 = thread_cpu("tickwire-io").expect("the I/O thread");
    let t0 = Instant::now();
    // The consumer sleeps too: only the I/O thread's own work is measured.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        while consumer.pop().is_some() {}
    }
    let wall = t0.elapsed();
    let cpu = thread_cpu("tickwire-io").expect("the I/O thread") - cpu0;
    assert_eq!(rest.requests().len(), 1, "still the one request, in flight");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "tickwire-io: {cpu:?} CPU in {wall:?} ({:.1} %)",
        share * 100.0
    );
    // A spinning loop takes the whole core it gets; a sleeping one a few percent (100
    // diffs/s and the snapshot poll timer).
    assert!(
        share < 0.20,
        "I/O thread at {:.0} % while a snapshot is in flight",
        share * 100.0
    );
    drop(engine);
}
