//! `tickwire run` with a REST snapshot endpoint that always answers 429 (issue 18 item 2):
//! the summary counts the snapshot failures and the book row says why the book never
//! synced, where it used to show `book levels 0` and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tickwire_tests::rest::{RestReply, RestServer};
use tickwire_tools::sim::{Market, SimConfig, SimServer};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");

#[test]
fn the_summary_shows_snapshot_failures_and_why() {
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = vec!["BTCUSDT".to_owned()];
    c.rate = 200;
    c.tape_len = 512;
    let sim = SimServer::start(c).unwrap();
    let rest = RestServer::start(|_, _| {
        RestReply::status(429, r#"{"code":-1003}"#).header("Retry-After", "1")
    });
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--url",
            &sim.ws_url(),
            "--rest-url",
            &rest.url(),
            "--symbols",
            "BTCUSDT",
            "--channels",
            "book",
            "--duration",
            "3s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("tickwire did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    sim.stop();
    assert!(status.success(), "{stderr}");
    // One request, then one per Retry-After (1 s) at most, each a failure.
    let asked = rest.requests().len();
    assert!((1..=4).contains(&asked), "{asked} requests: {stderr}");
    let count = stderr
        .lines()
        .find_map(|l| {
            let at = l.find("snapshot failures ")?;
            l[at + "snapshot failures ".len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no snapshot failure count: {stderr}"));
    assert!(count >= 1 && count <= asked, "{count} of {asked}: {stderr}");
    assert!(
        stderr.contains("snapshot failing") && stderr.contains("rate-limited, retry after"),
        "{stderr}"
    );
    assert!(
        stderr.contains("BTCUSDT: book snapshot failed: rate-limited"),
        "{stderr}"
    );
}
