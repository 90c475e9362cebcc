//! Every command finds venues by name and takes every registered venue: `run`, `record`
//! then `replay`, `bench` and the demo on Bybit (spot and linear) and OKX, each against the
//! venue's own built-in simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tickwire_tools::journal::{JournalReader, Kind};
use tickwire_tools::sim::{SimConfig, SimServer};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-venues-{}-{name}", std::process::id()))
}

/// The symbol a venue's simulator serves here, as the venue spells it.
fn symbol(venue: &str) -> &'static str {
    if venue == "okx" {
        "BTC-USDT"
    } else {
        "BTCUSDT"
    }
}

fn sim(venue: &str) -> SimServer {
    let mut c = SimConfig::for_venue(venue).unwrap();
    c.symbols = vec![symbol(venue).to_string()];
    c.rate = 400;
    SimServer::start(c).unwrap()
}

/// `run --venue X --url SIM --print`: the JSON lines of the contract, a synced book (one
/// snapshot run, then update runs), trades and BBOs, no resync. The URL is the simulator's
/// base: each venue adds its own path.
#[test]
fn run_prints_book_trade_and_bbo_lines_for_every_venue() {
    for venue in ["bybit", "bybit-linear", "okx"] {
        let sim = sim(venue);
        let o = bin()
            .args(["run", "--venue", venue, "--symbols"])
            .arg(symbol(venue).to_ascii_lowercase())
            .args([
                "--channels",
                "book,trade,bbo",
                "--duration",
                "2s",
                "--print",
            ])
            .args(["--url", &sim.ws_url()])
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{venue}: {err}");
        let prefix = |kind: &str| {
            format!(
                r#"{{"kind":"{kind}","venue":"{venue}","symbol":"{}""#,
                symbol(venue)
            )
        };
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines.iter().all(|l| l.starts_with(r#"{"kind":"#)),
            "{venue}: stdout is events only"
        );
        let snapshot_runs = lines
            .iter()
            .filter(|l| l.starts_with(&prefix("book")) && l.contains(r#"["snapshot","last"]"#))
            .count();
        assert_eq!(snapshot_runs, 1, "{venue}: {err}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix("book")) && l.ends_with(r#""flags":["last"]}"#)),
            "{venue}: update runs"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix("trade"))),
            "{venue}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix("bbo"))),
            "{venue}"
        );
        // No resync but the one the shutdown publishes (books are no longer kept).
        assert!(
            !out.lines().any(
                |l| l.contains(r#""status":"resync""#) && !l.contains(r#""detail":"shutdown""#)
            ),
            "{venue}: {out}"
        );
        assert!(err.contains("resyncs 0"), "{venue}: {err}");
        assert!(
            err.contains("connection 1 → ws://127.0.0.1:"),
            "{venue}: {err}"
        );
        sim.stop();
    }
}

/// Unknown venue names list the known ones, for every command that takes one.
#[test]
fn unknown_venues_list_the_known_ones() {
    for cmd in [
        &["run", "--venue", "nope", "--symbols", "X"][..],
        &[
            "record",
            "--venue",
            "nope",
            "--symbols",
            "X",
            "--out",
            "/nonexistent/x",
        ][..],
        &["bench", "--venue", "nope"][..],
        &["demo", "--venue", "nope"][..],
    ] {
        let o = bin().args(cmd).output().unwrap();
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{cmd:?}");
        assert!(err.contains("unknown venue 'nope'"), "{cmd:?}: {err}");
        assert!(
            err.contains("binance, binance-usdm, bybit, bybit-linear, okx"),
            "{cmd:?}: {err}"
        );
    }
}

/// The text messages of a journal, in order.
fn journal_messages(path: &std::path::Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = JournalReader::open_gzip(BufReader::new(f)).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next() {
        let rec = rec.unwrap();
        if rec.kind == Kind::Text {
            out.push(rec.payload.to_vec());
        }
    }
    out
}

/// `record` a Bybit and an OKX feed from the simulator, then `replay --print` the journal:
/// the market lines equal what the stateless decoder (`tickwire decode`, no book sync)
/// makes of the journal's messages, and the journal names its venue and topics.
#[test]
fn record_then_replay_gives_the_decoders_lines() {
    for venue in ["bybit-linear", "okx"] {
        let sim = sim(venue);
        let path = temp(&format!("{venue}.journal.gz"));
        let o = bin()
            .args(["record", "--venue", venue, "--symbols", symbol(venue)])
            .args(["--channels", "book,trade,bbo", "--duration", "2s"])
            .args(["--url", &sim.ws_url(), "--out"])
            .arg(&path)
            .output()
            .unwrap();
        let (_, err) = text(&o);
        assert!(o.status.success(), "{venue}: {err}");
        assert!(err.contains("0 records lost"), "{venue}: {err}");
        sim.stop();

        let o = bin()
            .args(["replay", "--print"])
            .arg(&path)
            .output()
            .unwrap();
        let (replayed, err) = text(&o);
        assert!(o.status.success(), "{venue}: {err}");
        assert!(
            err.starts_with(&format!("journal {venue} (3 streams)")),
            "{venue}: {err}"
        );
        assert!(err.contains("gaps 0  resyncs 1"), "{venue}: {err}");

        let messages = journal_messages(&path);
        assert!(messages.len() > 100, "{venue}: {}", messages.len());
        // Through a file: a pipe written whole before reading would deadlock on the output.
        let input = temp(&format!("{venue}.messages"));
        let mut lines = Vec::new();
        for m in &messages {
            lines.extend_from_slice(m);
            lines.push(b'\n');
        }
        std::fs::write(&input, lines).unwrap();
        let decode = bin()
            .args(["decode", "--venue", venue])
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let decoded = decode.wait_with_output().unwrap();
        assert!(decoded.status.success(), "{}", text(&decoded).1);
        let market = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with(r#"{"kind":"status""#))
                .map(str::to_owned)
                .collect()
        };
        let want = market(&text(&decoded).0);
        let got = market(&replayed);
        assert!(want.len() > 100, "{venue}: {}", want.len());
        assert_eq!(got.len(), want.len(), "{venue}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{venue}: line {i}");
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&input);
    }
}

/// `bench --venue bybit`: the built-in simulator and the engine end to end, with a report.
#[test]
fn bench_runs_end_to_end_on_bybit() {
    let o = bin()
        .args([
            "bench", "--venue", "bybit", "--kind", "mixed", "--rate", "2000",
        ])
        .args(["--count", "2000", "--timeout", "30"])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("bybit"), "{all}");
    assert!(all.contains("messages"), "{all}");
}

/// `tickwire demo --venue okx` runs on the OKX simulator for the time asked and summarizes.
#[test]
fn the_demo_runs_on_okx() {
    let o = bin()
        // A debug build decodes OKX slower than the default 30,000 a second.
        .args(["demo", "--venue", "okx", "--rate", "3000"])
        .env("TICKWIRE_DEMO_SECONDS", "2")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("the built-in okx simulator at ws://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("books        3/3 in sync"), "{out}");
}
