//! 200 Binance feeds on one engine share one REST snapshot thread (issue 19 item 8: each
//! feed used to start its own, 200 feeds → 202 threads), which ends after the last feed is
//! gone; shutting the engine down stays within its bound.

use std::time::{Duration, Instant};

use tickwire_engine::{Engine, EngineConfig, Profile, Registry};
use tickwire_feeds::binance::snapshot::scheduler_threads;
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tests::rest::{RestReply, RestServer, depth_body, threads_named};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

/// Threads this process runs whose name starts with `tickwire` (the engine's and feeds').
fn tickwire_threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("tickwire"))
        })
        .count()
}

/// Resident memory of this process, kB (Linux `/proc/self/status`; 0 elsewhere).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn two_hundred_feeds_share_one_rest_thread_which_ends_with_them() {
    const FEEDS: usize = 200;
    let rest =
        RestServer::start(|_, _| RestReply::ok(depth_body(1, &[("1.0", "1")], &[("2.0", "1")])));
    let ws = TestServer::plain(|peer| peer.serve(true, Duration::from_secs(60)));
    let config = EngineConfig::profile(Profile::Standard);
    let mut b = Engine::builder(config);
    let (cid, _consumer) = b.consumer(1 << 14); // room for a depth-5000 snapshot run
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let before = tickwire_threads();
    let rss_before = rss_kb();
    for i in 0..FEEDS {
        BinanceFeed::new(Market::Spot)
            .symbols(&[format!("S{i:03}USDT")])
            .channels(&[Channel::Depth(DepthSpeed::Ms100)])
            .url(&ws.ws_url("/stream"))
            .rest_url(&rest.url())
            .rotation(None)
            .options(test_options())
            .start(&engine.handle(), &registry, &[cid])
            .unwrap();
    }
    let added = tickwire_threads() - before;
    eprintln!(
        "{FEEDS} feeds: +{added} threads, +{} kB resident before connecting",
        rss_kb().saturating_sub(rss_before)
    );
    assert_eq!(threads_named("tickwire-rest"), 1);
    assert_eq!(scheduler_threads(), 1);
    assert!(added <= 1, "{FEEDS} feeds started {added} threads");
    // Let them connect.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ws.accepted() < FEEDS {
        assert!(
            Instant::now() < deadline,
            "{} of {FEEDS} connected",
            ws.accepted()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    engine.join().unwrap();
    let shutdown = t0.elapsed();
    eprintln!("{FEEDS} feeds: shutdown {shutdown:?}");
    // Close handshakes within the engine's bound, plus scheduling slack on a busy machine.
    assert!(
        shutdown < config.shutdown_timeout + Duration::from_secs(3),
        "shutdown took {shutdown:?}"
    );
    // The handlers (and their snapshot sources) are gone: the REST thread follows.
    let deadline = Instant::now() + Duration::from_secs(15);
    while threads_named("tickwire-rest") != 0 {
        assert!(
            Instant::now() < deadline,
            "the REST thread outlived its feeds"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(scheduler_threads(), 0);
}
