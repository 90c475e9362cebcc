//! `tickwire bench --url` against the simulator serving raw streams with the `"ts"` probe
//! (what mdload sends): the peer contract's one JSON line, `--hgrm`, `--plot`, a close frame,
//! a refused connection; the same with `--inline` (counted on the I/O thread), directly and
//! through the peers' wrapper script. Nothing here asserts speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tickwire_tools::sim::{Fault, Market, Mix, ScheduledFault, SimConfig, SimServer};

const REQUIRED: [&str; 9] = [
    "peer",
    "msgs",
    "secs",
    "msgs_per_s",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
];

fn sim(depth: bool, rate: u64, faults: Vec<ScheduledFault>) -> SimServer {
    let mut c = SimConfig::new(Market::Spot);
    c.rate = rate;
    c.probe_ts = true;
    c.inbound_limit = None;
    c.mix = Mix {
        depth: u32::from(depth),
        trade: u32::from(!depth),
        ticker: 0,
    };
    c.faults = faults;
    SimServer::start(c).unwrap()
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

/// The single JSON line of stdout, checked for the contract's keys.
fn json_line(out: &Output) -> Value {
    json_line_of(out, "tickwire")
}

/// [`json_line`] of a row named `peer`.
fn json_line_of(out: &Output, peer: &str) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    for k in REQUIRED {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["peer"], peer);
    v
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-bench-{}-{name}", std::process::id()))
}

#[test]
fn depth_from_a_raw_stream_prints_the_contract_line_hgrm_and_plot() {
    let sim = sim(true, 20_000, Vec::new());
    let url = format!("{}/ws/btcusdt@depth@0ms", sim.ws_url());
    let (hgrm, svg) = (temp("depth.hgrm"), temp("depth.svg"));
    let out = bench(&[
        "--url",
        &url,
        "--count",
        "3000",
        "--warmup",
        "100",
        "--qcap",
        "65536",
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let v = json_line(&out);
    assert_eq!(v["msgs"], 3000);
    assert_eq!(v["recorded"], 2900);
    assert_eq!(v["dropped_events"], 0);
    assert!(v["events"].as_u64().unwrap() >= 3000);
    let p = |k: &str| v[k].as_u64().unwrap();
    assert!(p("p50_ns") > 0 && p("p50_ns") <= p("p90_ns") && p("p90_ns") <= p("p99_ns"));
    assert!(p("p99_ns") <= p("p999_ns") && p("p999_ns") <= p("max_ns"));
    // The summary goes to stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wire→consumer"), "{err}");

    // .hgrm: header, rows (value µs, quantile, running count), footer with the total.
    let text = std::fs::read_to_string(&hgrm).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    let mut rows = Vec::new();
    let mut footer = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        if l.starts_with("#[") {
            footer.push(l);
            continue;
        }
        let c: Vec<&str> = l.split_whitespace().collect();
        assert!(c.len() == 4 || c.len() == 3, "{l}");
        let value: f64 = c[0].parse().unwrap();
        let q: f64 = c[1].parse().unwrap();
        let total: u64 = c[2].parse().unwrap();
        rows.push((value, q, total));
    }
    assert!(rows.len() > 10);
    assert!(
        rows.windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
    );
    assert_eq!(rows.last().unwrap().1, 1.0);
    assert_eq!(rows.last().unwrap().2, 2900);
    assert_eq!(footer.len(), 3);
    assert!(footer[1].contains("Total count") && footer[1].trim_end().ends_with("2900]"));
    // The max matches the JSON line (µs with three decimals in the file).
    let max_us: f64 = footer[1]
        .trim_start_matches("#[Max     =")
        .split(',')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((max_us * 1000.0 - p("max_ns") as f64).abs() < 1.0);

    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg "));
    assert!(svg_text.trim_end().ends_with("</svg>"));
    assert!(svg_text.contains("<polyline"));
    assert!(svg_text.contains("99.9%"));
    let _ = std::fs::remove_file(hgrm);
    let _ = std::fs::remove_file(svg);
    sim.stop();
}

#[test]
fn trades_count_one_message_each() {
    // Paced: the engine drains a socket until it would block, so an unpaced sender that
    // outruns a debug build keeps it from seeing the shutdown until the sender stops.
    let sim = sim(false, 50_000, Vec::new());
    let url = format!("{}/ws/btcusdt@trade", sim.ws_url());
    let out = bench(&["--url", &url, "--count", "5000", "--no-stages"]);
    assert!(out.status.success(), "{out:?}");
    let v = json_line(&out);
    assert_eq!(v["msgs"], 5000);
    assert_eq!(v["recorded"], 5000);
    // Without stages the engine publishes nothing but the data and the Connected status.
    assert!(v["events"].as_u64().unwrap() >= 5000);
    sim.stop();
}

#[test]
fn stops_at_a_close_frame_with_what_it_got() {
    let close = ScheduledFault {
        fault: Fault::Close(1000),
        at: Duration::from_millis(300),
        every: None,
    };
    let sim = sim(true, 2_000, vec![close]);
    let url = format!("{}/ws/btcusdt@depth@0ms", sim.ws_url());
    let out = bench(&["--url", &url, "--count", "1000000000"]);
    assert!(out.status.success(), "{out:?}");
    let v = json_line(&out);
    let msgs = v["msgs"].as_u64().unwrap();
    assert!(msgs > 0 && msgs < 10_000, "{msgs}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped after"), "{err}");
    sim.stop();
}

#[test]
fn a_refused_connection_says_what_to_check() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = bench(&["--url", &format!("ws://127.0.0.1:{port}/"), "--count", "10"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the server running"), "{err}");
}

#[test]
fn simulator_mode_prints_the_summary() {
    let out = bench(&[
        "--count", "2000", "--rate", "20000", "--kind", "mixed", "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("2000 messages"), "{stdout}");
    assert!(stdout.contains("recv→decoded"), "{stdout}");
    let last = stdout.lines().last().unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["msgs"], 2000);
}

/// `--inline`: the messages are counted and timed by an inline consumer on the I/O thread;
/// the same contract line, as row `tickwire-inline`.
#[test]
fn inline_counts_and_times_on_the_io_thread() {
    let sim = sim(true, 20_000, Vec::new());
    let url = format!("{}/ws/btcusdt@depth@0ms", sim.ws_url());
    let out = bench(&[
        "--url", &url, "--inline", "--count", "3000", "--warmup", "100",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v = json_line_of(&out, "tickwire-inline");
    assert_eq!(v["msgs"], 3000);
    assert_eq!(v["recorded"], 2900);
    assert_eq!(v["dropped_events"], 0);
    assert!(v["events"].as_u64().unwrap() >= 3000);
    let p = |k: &str| v[k].as_u64().unwrap();
    assert!(p("p50_ns") > 0 && p("p50_ns") <= p("p99_ns") && p("p99_ns") <= p("max_ns"));
    // A close frame ends an inline run too, with what it got.
    let close = ScheduledFault {
        fault: Fault::Close(1000),
        at: Duration::from_millis(300),
        every: None,
    };
    let closing = self::sim(true, 2_000, vec![close]);
    let url = format!("{}/ws/btcusdt@depth@0ms", closing.ws_url());
    let out = bench(&["--url", &url, "--inline", "--count", "1000000000"]);
    assert!(out.status.success(), "{out:?}");
    let msgs = json_line_of(&out, "tickwire-inline")["msgs"]
        .as_u64()
        .unwrap();
    assert!(msgs > 0 && msgs < 10_000, "{msgs}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped after"));
    closing.stop();
    sim.stop();
}

/// tools/scripts/tickwire-bench-wrapper passes `--inline` for TICKWIRE_INLINE=1 and for the
/// `inline` variant (a symlink named tickwire-bench-wrapper-inline).
#[test]
fn the_wrapper_runs_the_inline_row() {
    let sim = sim(false, 50_000, Vec::new());
    let url = format!("{}/ws/btcusdt@trade", sim.ws_url());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/tickwire-bench-wrapper");
    let link = temp("dir").join("tickwire-bench-wrapper-inline+nostages");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&script, &link).unwrap();
    for (program, inline_env, peer) in [
        (&script, "1", "tickwire-inline"),
        (&script, "0", "tickwire"),
        (&link, "0", "tickwire-inline+nostages"),
    ] {
        let out = Command::new(program)
            .env("TICKWIRE_BIN", env!("CARGO_BIN_EXE_tickwire"))
            .env("TICKWIRE_INLINE", inline_env)
            .args(["--url", &url, "--count", "1000"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(json_line_of(&out, peer)["msgs"], 1000);
    }
    let _ = std::fs::remove_dir_all(link.parent().unwrap());
    sim.stop();
}
