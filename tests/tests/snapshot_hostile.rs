//! Book sync against hostile REST snapshot servers (issue 18 items 1, 2, 4): each server
//! answers badly in its own way while a loopback WebSocket streams diffs. Every feed must
//! ask on the handler's one backoff (or the venue's `Retry-After`), never in a storm, and
//! say per instrument why its book stays invalid.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tickwire_engine::adapter::FeedConfig;
use tickwire_engine::event::{Event, Status, StatusKind};
use tickwire_engine::{Engine, EngineConfig, Profile, Reason, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tests::rest::{RestReply, RestServer, depth_body, stream_depth_diffs};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

/// The most requests the handler's backoff allows in `window` (independent model): the
/// first at once, then each no sooner than three quarters (the most jitter takes off) of
/// `base · 2^k`, capped at `cap`.
fn max_requests(base: Duration, cap: Duration, window: Duration) -> usize {
    let (mut t, mut delay, mut n) = (Duration::ZERO, base, 1);
    loop {
        t += delay - delay / 4;
        if t > window {
            return n;
        }
        n += 1;
        delay = (delay * 2).min(cap);
    }
}

struct Case {
    symbol: &'static str,
    server: RestServer,
    reason: Reason,
    /// Least time between two requests the server may see, when the venue sets it.
    retry_after: Option<Duration>,
    value: Option<u64>,
}

#[test]
fn hostile_snapshot_servers_are_asked_on_the_backoff_and_every_failure_is_reported() {
    let ok_top = &[("100.0", "1")][..];
    let ask_top = &[("101.0", "1")][..];
    let cases = vec![
        Case {
            symbol: "RLAUSDT",
            server: RestServer::start(|_, _| {
                RestReply::status(429, r#"{"code":-1003,"msg":"Too many requests"}"#)
                    .header("Retry-After", "2")
            }),
            reason: Reason::RateLimited,
            retry_after: Some(Duration::from_secs(2)),
            value: Some(2000),
        },
        Case {
            symbol: "BANUSDT",
            server: RestServer::start(|_, _| {
                RestReply::status(418, r#"{"code":-1003,"msg":"banned"}"#)
                    .header("Retry-After", "3")
            }),
            reason: Reason::Banned,
            retry_after: Some(Duration::from_secs(3)),
            value: Some(3000),
        },
        Case {
            symbol: "ERRUSDT",
            server: RestServer::start(|_, _| RestReply::status(500, "oops")),
            reason: Reason::HttpStatus,
            retry_after: None,
            value: Some(500),
        },
        Case {
            symbol: "GRBUSDT",
            server: RestServer::start(|_, _| RestReply::ok("<html>garbage")),
            reason: Reason::Malformed,
            retry_after: None,
            value: None,
        },
        Case {
            symbol: "OLDUSDT",
            // Diffs start at id 1000: a snapshot at 10 is older than all of them.
            server: RestServer::start(move |_, _| RestReply::ok(depth_body(10, ok_top, ask_top))),
            reason: Reason::SnapshotTooOld,
            retry_after: None,
            value: Some(10),
        },
        Case {
            symbol: "CRSUSDT",
            // Lines up with the buffered diff 1001, but the bid is above the ask.
            server: RestServer::start(|_, _| {
                RestReply::ok(depth_body(1000, &[("92000.0", "1")], &[("91000.0", "1")]))
            }),
            reason: Reason::Crossed,
            retry_after: None,
            value: Some(1000),
        },
        Case {
            symbol: "AHDUSDT",
            // Far ahead of the stream: never lines up; the sync bound reports it.
            server: RestServer::start(move |_, _| {
                RestReply::ok(depth_body(1_000_000_000_000, ok_top, ask_top))
            }),
            reason: Reason::SyncTimeout,
            retry_after: None,
            value: Some(1_000_000_000_000),
        },
    ];
    let ws = TestServer::plain(|peer| {
        stream_depth_diffs(
            peer,
            1000,
            Duration::from_millis(10),
            Duration::from_secs(30),
        );
    });
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 20);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let handler = FeedConfig {
        snapshot_sync_timeout_ns: 1_000_000_000,
        ..FeedConfig::default()
    };
    let started = Instant::now();
    for c in &cases {
        BinanceFeed::new(Market::Spot)
            .symbols(&[c.symbol])
            .channels(&[Channel::Depth(DepthSpeed::Ms100)])
            .url(&ws.ws_url("/stream"))
            .rest_url(&c.server.url())
            .rotation(None)
            .options(test_options())
            .handler_config(handler)
            .start(&engine.handle(), &registry, &[cid])
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut events: Vec<Event> = Vec::new();
            while !stop.load(Ordering::Acquire) {
                while let Some(e) = consumer.pop() {
                    events.push(e);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            while let Some(e) = consumer.pop() {
                events.push(e);
            }
            events
        })
    };
    std::thread::sleep(Duration::from_secs(5));
    let window = started.elapsed();
    // Requests counted now, statuses after: every request counted has been answered or is
    // in flight.
    let asked: Vec<_> = cases.iter().map(|c| c.server.requests()).collect();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    let events = collector.join().unwrap();
    let stats = engine.join().unwrap();
    let _ = stats;

    let base = Duration::from_nanos(handler.snapshot_retry_ns);
    let cap = Duration::from_nanos(handler.snapshot_retry_max_ns);
    let backoff_most = max_requests(base, cap, window);
    for (c, asked) in cases.iter().zip(&asked) {
        let instrument = registry.lookup("binance", c.symbol).unwrap();
        let n = asked.len();
        let most = match c.retry_after {
            // One, then one per Retry-After at most.
            Some(wait) => 1 + (window.as_millis() / wait.as_millis()) as usize,
            None => backoff_most,
        };
        eprintln!("{}: {n} requests in {window:?} (at most {most})", c.symbol);
        assert!(
            (1..=most).contains(&n),
            "{}: {n} requests in {window:?}, at most {most} allowed",
            c.symbol
        );
        if let Some(wait) = c.retry_after {
            for w in asked.windows(2) {
                assert!(
                    w[1].at - w[0].at >= wait,
                    "{}: Retry-After ignored",
                    c.symbol
                );
            }
        }
        let mine: Vec<Status> = events
            .iter()
            .filter(|e| e.instrument == instrument)
            .filter_map(Event::as_status)
            .filter(|s| s.kind == StatusKind::SnapshotFailed)
            .collect();
        let with_reason: Vec<&Status> = mine
            .iter()
            .filter(|s| s.reason == c.reason.code())
            .collect();
        assert!(
            !with_reason.is_empty(),
            "{}: no SnapshotFailed({:?}) status; got {:?}",
            c.symbol,
            c.reason,
            mine
        );
        if let Some(v) = c.value {
            if c.retry_after.is_some() {
                // The venue's answer carries the whole wait; a request the scheduler holds
                // back meanwhile is answered with what is left of it (a slow machine can
                // leave 1 ms).
                assert!(
                    with_reason.iter().any(|s| s.value == v)
                        && with_reason.iter().all(|s| (1..=v).contains(&s.value)),
                    "{}: {mine:?}",
                    c.symbol
                );
            } else if c.reason == Reason::SyncTimeout {
                // The held snapshot's id; 0 when the bound came round again while the next
                // request still waited for its backoff or answer (nothing held: a loaded
                // machine answers late).
                assert!(
                    with_reason.iter().any(|s| s.value == v)
                        && with_reason.iter().all(|s| s.value == v || s.value == 0),
                    "{}: {mine:?}",
                    c.symbol
                );
            } else {
                assert!(
                    with_reason.iter().all(|s| s.value == v),
                    "{}: {mine:?}",
                    c.symbol
                );
            }
        }
        if c.reason != Reason::SyncTimeout {
            // Each answered request: one status with the server's reason.
            assert!(
                with_reason.len() + 1 >= n && with_reason.len() <= n,
                "{}: {} statuses for {n} requests",
                c.symbol,
                with_reason.len()
            );
        }
        let levels = events
            .iter()
            .filter(|e| e.instrument == instrument && e.as_level().is_some())
            .count();
        assert_eq!(levels, 0, "{}: no book was published", c.symbol);
    }
}
