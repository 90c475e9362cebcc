//! `tickwire run --publish` and `tickwire subscribe` as a user meets them: the real binary,
//! the built-in simulator and a real `nats-server` (skipped, saying so, where there is none;
//! CI sets `TICKWIRE_REQUIRE_NATS=1`).
#![cfg(feature = "nats")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use tickwire_tests::nats::NatsServer;
use tickwire_tools::sim::{Market, SimConfig, SimServer};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");

fn lines_of(symbol: &str, text: &str) -> Vec<String> {
    let key = format!("\"symbol\":{symbol}");
    text.lines()
        .filter(|l| l.contains(&key))
        .map(str::to_owned)
        .collect()
}

#[test]
fn subscribe_prints_exactly_the_lines_run_printed() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    c.rate = 2_000;
    c.tape_len = 512;
    let sim = SimServer::start(c).unwrap();
    let run = Command::new(BIN)
        .args([
            "run",
            "--url",
            &sim.ws_url(),
            "--symbols",
            "BTCUSDT,ETHUSDT",
        ])
        .args([
            "--channels",
            "trade,bbo,book",
            "--duration",
            "3s",
            "--print",
        ])
        .args(["--publish", &nats.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run_err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{run_err}");
    assert!(run_err.contains("published "), "{run_err}");
    let published = String::from_utf8(run.stdout).unwrap();

    let sub = Command::new(BIN)
        .args([
            "subscribe",
            &nats.url(),
            "--from",
            "start",
            "--idle-exit",
            "2s",
            "--print",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let sub_err = String::from_utf8_lossy(&sub.stderr);
    assert!(sub.status.success(), "{sub_err}");
    let consumed = String::from_utf8(sub.stdout).unwrap();

    assert!(published.lines().count() > 100, "{run_err}");
    assert_eq!(
        consumed.lines().count(),
        published.lines().count(),
        "{sub_err}"
    );
    // Same lines, in the same order per instrument (and for the connection's statuses).
    for symbol in ["\"BTCUSDT\"", "\"ETHUSDT\"", "null"] {
        let (a, b) = (lines_of(symbol, &published), lines_of(symbol, &consumed));
        assert!(!a.is_empty(), "no {symbol} lines");
        assert_eq!(a, b, "{symbol}");
    }

    // One instrument's subject, from its latest snapshot: a book run first, then its events.
    let one = Command::new(BIN)
        .args([
            "subscribe",
            &nats.url(),
            "--subject",
            "tickwire.binance.ETHUSDT",
        ])
        .args(["--idle-exit", "1s", "--print"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(one.status.success());
    let one = String::from_utf8(one.stdout).unwrap();
    let first = one.lines().next().unwrap_or_default();
    assert!(
        first.contains("\"kind\":\"book\"") && first.contains("\"ETHUSDT\""),
        "{first}"
    );
    assert!(one.lines().all(|l| l.contains("\"ETHUSDT\"")));
}
