//! The shared REST snapshot scheduler (issue 19 item 8, issue 9's scheduler), driven through
//! [`RestSnapshots`] as feed handlers drive it: merged requests, the request-weight budget,
//! a rate limit that holds everyone back.

use std::time::{Duration, Instant};

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::{InstrumentId, Registry};
use tickwire_feeds::binance::snapshot::{RestLimits, depth_weight};
use tickwire_feeds::binance::{BinanceConfig, Market, RestSnapshots};
use tickwire_tests::rest::{RestReply, RestServer, depth_body};

type Answer = (InstrumentId, Result<BookSnapshot, SnapshotError>);

fn config(server: &RestServer) -> BinanceConfig {
    let mut c = BinanceConfig::spot();
    c.rest_base = Some(server.url());
    c.snapshot_limit = 100;
    c
}

fn wait_answers(sources: &mut [&mut RestSnapshots], n: usize, limit: Duration) -> Vec<Vec<Answer>> {
    let mut got: Vec<Vec<Answer>> = sources.iter().map(|_| Vec::new()).collect();
    let deadline = Instant::now() + limit;
    while got.iter().map(Vec::len).sum::<usize>() < n {
        assert!(Instant::now() < deadline, "answers so far: {got:?}");
        for (s, g) in sources.iter_mut().zip(got.iter_mut()) {
            while let Some(a) = s.poll() {
                g.push(a);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    got
}

fn ok_body() -> RestReply {
    RestReply::ok(depth_body(7, &[("1.0", "1")], &[("2.0", "1")]))
}

/// Two feeds asking for the same symbol while an earlier request is in flight cost one
/// request; both get the snapshot, under their own instrument ids.
#[test]
fn queued_requests_for_one_symbol_are_merged() {
    let server = RestServer::start(|_, n| {
        if n == 0 {
            ok_body().after(Duration::from_millis(300))
        } else {
            ok_body()
        }
    });
    let cfg = config(&server);
    let (ra, rb) = (Registry::new(), Registry::new());
    // Different ids in the two registries.
    rb.intern("binance", "PADAUSDT");
    rb.intern("binance", "PADBUSDT");
    let mut a = RestSnapshots::spawn(&cfg, &ra, &["BTCUSDT", "ETHUSDT"]).unwrap();
    let mut b = RestSnapshots::spawn(&cfg, &rb, &["ETHUSDT"]).unwrap();
    a.request(ra.lookup("binance", "BTCUSDT").unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let (eth_a, eth_b) = (
        ra.lookup("binance", "ETHUSDT").unwrap(),
        rb.lookup("binance", "ETHUSDT").unwrap(),
    );
    assert_ne!(eth_a, eth_b);
    a.request(eth_a);
    b.request(eth_b);
    let got = wait_answers(&mut [&mut a, &mut b], 3, Duration::from_secs(10));
    let symbols: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.symbol().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        symbols,
        ["BTCUSDT", "ETHUSDT"],
        "the two ETH requests were merged"
    );
    let (id, snap) = got[1].iter().find(|(i, _)| *i == eth_b).unwrap().clone();
    assert_eq!(snap.unwrap().instrument, id);
    assert!(got[0].iter().any(|(i, r)| *i == eth_a && r.is_ok()));
}

/// Asks a scheduler with a budget of `budget_requests` requests' weight per 500 ms window,
/// shared by `processes`, for six symbols: every one is served, and any three consecutive
/// requests span at least a window (no window sees more than two).
fn two_requests_a_window(budget_requests: u32, processes: u32) {
    let server = RestServer::start(|_, _| ok_body());
    let cfg = config(&server);
    let weight = depth_weight(Market::Spot, cfg.snapshot_limit);
    let window = Duration::from_millis(500);
    let limits = RestLimits {
        weight_per_minute: budget_requests * weight,
        window,
        ..RestLimits::for_market(Market::Spot)
    }
    .shared_by(processes);
    let reg = Registry::new();
    let symbols = [
        "AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT",
    ];
    let mut s = RestSnapshots::spawn_with_limits(&cfg, &reg, &symbols, &[], limits).unwrap();
    for sym in symbols {
        s.request(reg.lookup("binance", sym).unwrap());
    }
    let got = wait_answers(&mut [&mut s], symbols.len(), Duration::from_secs(20));
    assert!(got[0].iter().all(|(_, r)| r.is_ok()));
    let at: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), symbols.len());
    for w in at.windows(3) {
        assert!(w[2] - w[0] >= window, "{:?}", w[2] - w[0]);
    }
}

/// With a budget of two requests' weight per (shortened) window, no window sees more, and
/// every request is still served.
#[test]
fn requests_keep_within_the_weight_budget() {
    two_requests_a_window(2, 1);
}

/// One of two processes spending one IP's budget (shards in processes of their own) keeps
/// to half of it: with the budget of four requests' weight per window, no window of this
/// process sees more than two.
#[test]
fn a_process_sharing_the_budget_keeps_to_its_share() {
    two_requests_a_window(4, 2);
}

/// A 429 with `Retry-After` holds every feed of the venue back: the request queued behind
/// it and those made during the wait are answered rate-limited without reaching the server.
#[test]
fn a_rate_limit_holds_back_every_feed_of_the_venue() {
    let server = RestServer::start(|_, n| {
        if n == 0 {
            RestReply::status(429, "{}")
                .header("Retry-After", "2")
                .after(Duration::from_millis(200))
        } else {
            ok_body()
        }
    });
    let cfg = config(&server);
    let (ra, rb) = (Registry::new(), Registry::new());
    let mut a = RestSnapshots::spawn(&cfg, &ra, &["BTCUSDT"]).unwrap();
    let mut b = RestSnapshots::spawn(&cfg, &rb, &["ETHUSDT"]).unwrap();
    a.request(ra.lookup("binance", "BTCUSDT").unwrap());
    while server.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(2));
    }
    b.request(rb.lookup("binance", "ETHUSDT").unwrap());
    let got = wait_answers(&mut [&mut a, &mut b], 2, Duration::from_secs(10));
    for g in &got {
        match g[0].1 {
            Err(SnapshotError::RateLimited {
                status: 429,
                retry_after_ms,
            }) => assert!((1..=2000).contains(&retry_after_ms), "{retry_after_ms}"),
            ref other => panic!("{other:?}"),
        }
    }
    // Asked again during the wait: refused at once, nothing sent.
    b.request(rb.lookup("binance", "ETHUSDT").unwrap());
    let got = wait_answers(&mut [&mut b], 1, Duration::from_secs(1));
    assert!(matches!(
        got[0][0].1,
        Err(SnapshotError::RateLimited { .. })
    ));
    assert_eq!(server.requests().len(), 1);
    // After the wait, requests go out again.
    std::thread::sleep(Duration::from_millis(2100));
    b.request(rb.lookup("binance", "ETHUSDT").unwrap());
    let got = wait_answers(&mut [&mut b], 1, Duration::from_secs(10));
    assert!(got[0][0].1.is_ok());
    assert_eq!(server.requests().len(), 2);
}
