//! `OkxFeed` on an engine against a loopback OKX: subscribe and ack, the in-band start, the
//! REST start through the shared scheduler when no snapshot comes (venues.md §12), text
//! `ping`/`pong` and a pong that never comes.

use std::time::{Duration, Instant};

use tickwire_engine::book::{Book, BookConfig};
use tickwire_engine::event::{EventKind, Flags, StatusKind};
use tickwire_engine::{Decimal, Engine, EngineConfig, Profile, Reason, Registry};
use tickwire_feeds::okx::{Channel, OkxConfig, OkxFeed};
use tickwire_tests::consume::collect_until;
use tickwire_tests::rest::{RestReply, RestServer};
use tickwire_tests::server::{Peer, TestServer};
use tickwire_tests::test_options;

fn update(k: u64) -> String {
    format!(
        r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[],"bids":[["{}","1","0","1"]],"ts":"1","checksum":0,"prevSeqId":{},"seqId":{}}}]}}"#,
        1000 + k,
        100 + k - 1,
        100 + k
    )
}

const SNAPSHOT: &str = r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["5000","1","0","1"]],"bids":[["1000","1","0","1"]],"ts":"1","checksum":0,"prevSeqId":-1,"seqId":100}]}"#;

/// Reads the subscribe request, acks it; then `n` updates (after a snapshot when `snapshot`),
/// answering text pings when `pongs`; then serves until the client goes.
fn okx_script(peer: &mut Peer, snapshot: bool, n: u64, pongs: bool) {
    let Some(sub) = peer.read_frame(Duration::from_secs(5)) else {
        return;
    };
    assert!(sub.text().contains(r#""op":"subscribe""#), "{}", sub.text());
    if peer
        .send_text(
            r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"x"}"#,
        )
        .is_err()
    {
        return;
    }
    if snapshot && peer.send_text(SNAPSHOT).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut k = 1;
    while Instant::now() < deadline {
        if k <= n {
            if peer.send_text(&update(k)).is_err() {
                return;
            }
            k += 1;
        }
        if let Some(f) = peer.read_frame(Duration::from_millis(10)) {
            if f.opcode == 8 {
                return;
            }
            if f.opcode == 1 && f.text() == "ping" && pongs && peer.send_text("pong").is_err() {
                return;
            }
        }
    }
}

fn dec(s: &str) -> Decimal {
    Decimal::parse(s.as_bytes()).unwrap()
}

/// The consumer's book once update `last` (seqId 100 + last) was applied.
fn run(
    config: OkxConfig,
    ws: &TestServer,
    rest: &RestServer,
    last: u64,
) -> (Book, Vec<tickwire_engine::Event>) {
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 12);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let ids = OkxFeed::with_config(config)
        .symbols(&["btc-usdt"])
        .channels(&[Channel::Books])
        .url(&ws.ws_url("/ws/v5/public"))
        .rest_url(&rest.url())
        .options(test_options())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    assert_eq!(ids.len(), 1);
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        Duration::from_secs(20),
        "the last update",
        |ev| {
            ev.iter().any(|e| {
                e.kind() == EventKind::BookLevel
                    && e.as_level().is_some_and(|l| l.seq == 100 + last)
                    && e.flags.contains(Flags::LAST_IN_BATCH)
            })
        },
    );
    let mut book = Book::new(BookConfig::with_depth(400));
    for e in &events {
        if e.kind() == EventKind::BookLevel || e.kind() == EventKind::Status {
            book.apply_event(e).unwrap();
        }
    }
    (book, events)
}

#[test]
fn the_in_band_start_syncs_without_rest_and_pings_are_answered() {
    let ws = TestServer::plain(|peer| okx_script(peer, true, 60, true));
    let rest = RestServer::start(|_, _| RestReply::status(500, "no"));
    let config = OkxConfig {
        ping_interval_ns: 100_000_000,
        pong_timeout_ns: 1_000_000_000,
        ..OkxConfig::default()
    };
    let (book, events) = run(config, &ws, &rest, 60);
    assert!(book.is_valid());
    let bids: Vec<_> = book.bids(usize::MAX).collect();
    assert_eq!(bids.len(), 61);
    assert_eq!(bids[0], (dec("1060"), dec("1")));
    assert_eq!(book.best_ask(), Some((dec("5000"), dec("1"))));
    assert!(rest.requests().is_empty());
    let resyncs = events
        .iter()
        .filter_map(|e| e.as_status())
        .filter(|s| s.kind == StatusKind::Resync)
        .count();
    assert_eq!(resyncs, 0);
    // The updates took 600 ms or more: pings went out and were answered in time.
    ws.wait_for(Duration::from_secs(5), "pings", |r| {
        r.frames.iter().filter(|f| f.text() == "ping").count() >= 3
    });
    assert!(
        !events
            .iter()
            .filter_map(|e| e.as_status())
            .any(|s| s.reason == Reason::PongTimeout as u16)
    );
}

#[test]
fn without_a_snapshot_the_rest_start_syncs_the_book() {
    let ws = TestServer::plain(|peer| okx_script(peer, false, 150, true));
    let rest = RestServer::start(|_, _| {
        // seqId 105: updates up to 105 are dropped, 106 (prevSeqId 105) applies first.
        let bids: Vec<String> = (0..=5)
            .rev()
            .map(|k| format!(r#"["{}","1","0","1"]"#, 1000 + k))
            .collect();
        RestReply::ok(format!(
            r#"{{"code":"0","msg":"","data":[{{"asks":[["5000","1","0","1"]],"bids":[{}],"ts":"1","seqId":105}}]}}"#,
            bids.join(",")
        ))
    });
    let config = OkxConfig {
        snapshot_grace_ns: 300_000_000,
        ..OkxConfig::default()
    };
    let (book, _) = run(config, &ws, &rest, 150);
    assert!(book.is_valid());
    let bids: Vec<_> = book.bids(usize::MAX).collect();
    assert_eq!(bids.len(), 151);
    assert_eq!(bids[0], (dec("1150"), dec("1")));
    assert_eq!(bids[150], (dec("1000"), dec("1")));
    let reqs = rest.requests();
    assert!(!reqs.is_empty());
    assert_eq!(reqs[0].path, "/api/v5/market/books?instId=BTC-USDT&sz=400");
}

#[test]
fn a_pong_that_never_comes_recycles_the_connection() {
    let ws = TestServer::plain(|peer| okx_script(peer, true, 1, false));
    let rest = RestServer::start(|_, _| RestReply::status(500, "no"));
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 12);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let config = OkxConfig {
        ping_interval_ns: 200_000_000,
        pong_timeout_ns: 300_000_000,
        ..OkxConfig::default()
    };
    OkxFeed::with_config(config)
        .symbols(&["BTC-USDT"])
        .channels(&[Channel::Books])
        .url(&ws.ws_url("/ws/v5/public"))
        .rest_url(&rest.url())
        .options(test_options())
        .start(&engine.handle(), &registry, &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(
        &mut consumer,
        &mut events,
        Duration::from_secs(10),
        "a pong timeout",
        |ev| {
            ev.iter().filter_map(|e| e.as_status()).any(|s| {
                s.kind == StatusKind::Disconnected && s.reason == Reason::PongTimeout as u16
            })
        },
    );
    // The feed reconnects and subscribes again.
    ws.wait_for(Duration::from_secs(10), "a second connection", |r| {
        r.frames
            .iter()
            .any(|f| f.conn == 1 && f.text().contains("subscribe"))
    });
}
