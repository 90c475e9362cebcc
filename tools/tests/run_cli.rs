//! `tickwire run` and the demo as a user meets them: the real binary against the built-in
//! simulator on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tickwire_tools::sim::{Market, SimConfig, SimServer};

const BIN: &str = env!("CARGO_BIN_EXE_tickwire");

fn sim(symbols: &[&str], rate: u64) -> SimServer {
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = symbols.iter().map(|s| (*s).to_owned()).collect();
    c.rate = rate;
    c.tape_len = 512;
    SimServer::start(c).unwrap()
}

fn tickwire(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` to exit, killing it after `limit`.
fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("tickwire did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The keys `tickwire decode` writes for each kind (feeds/src/jsonl.rs).
fn decode_keys(kind: &str) -> BTreeSet<&'static str> {
    let keys: &[&str] = match kind {
        "trade" => &[
            "kind",
            "venue",
            "symbol",
            "side",
            "price",
            "qty",
            "id",
            "exchange_ts",
            "flags",
        ],
        "book" => &[
            "kind",
            "venue",
            "symbol",
            "side",
            "price",
            "qty",
            "seq",
            "exchange_ts",
            "flags",
        ],
        "bbo" => &[
            "kind",
            "venue",
            "symbol",
            "bid_price",
            "bid_qty",
            "ask_price",
            "ask_qty",
            "seq",
            "exchange_ts",
            "flags",
        ],
        "status" => &["kind", "venue", "symbol", "status", "detail"],
        other => panic!("unknown kind {other}"),
    };
    keys.iter().copied().collect()
}

#[test]
fn run_print_streams_decode_format_lines_and_stops_cleanly_on_sigint() {
    let sim = sim(&["BTCUSDT", "ETHUSDT", "BNBUSDT"], 3000);
    let url = format!("{}/stream", sim.ws_url());
    let mut child = tickwire(&[
        "run",
        "--url",
        &url,
        "--symbols",
        "btcusdt,ETHUSDT",
        "--channels",
        "trade,bbo,book",
        "--print",
    ])
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // Until every symbol has shown a trade, a BBO, and a complete book snapshot.
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let want: BTreeSet<(String, String)> = ["BTCUSDT", "ETHUSDT"]
        .iter()
        .flat_map(|s| {
            ["trade", "bbo", "snapshot"]
                .iter()
                .map(move |k| ((*s).to_owned(), (*k).to_owned()))
        })
        .collect();
    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !want.is_subset(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!(
                "missing {:?}; stderr: {}",
                want.difference(&seen).collect::<Vec<_>>(),
                stderr_of(&mut child)
            );
        };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let kind = v["kind"].as_str().unwrap().to_owned();
        let symbol = v["symbol"].as_str().unwrap_or("").to_owned();
        match kind.as_str() {
            "trade" | "bbo" => {
                seen.insert((symbol, kind));
            }
            "book" => {
                let flags: Vec<&str> = v["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect();
                if flags == ["snapshot", "last"] {
                    seen.insert((symbol, "snapshot".into()));
                }
            }
            _ => {}
        }
        lines.push(line);
    }
    sigint(&child);
    let status = wait(&mut child, Duration::from_secs(20));
    let stderr = stderr_of(&mut child);
    reader.join().unwrap();
    for line in rx.try_iter() {
        lines.push(line);
    }
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeSet<String> = BTreeSet::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().unwrap();
        let kind = obj["kind"].as_str().unwrap();
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, decode_keys(kind), "{line}");
        assert_eq!(obj["venue"], "binance");
        match kind {
            "status" => {
                statuses.insert(obj["status"].as_str().unwrap().to_owned());
            }
            _ => {
                let sym = obj["symbol"].as_str().unwrap();
                assert!(sym == "BTCUSDT" || sym == "ETHUSDT", "{line}");
            }
        }
        *kinds.entry(kind.to_owned()).or_default() += 1;
    }
    assert!(statuses.contains("connected"), "{statuses:?}");
    assert!(kinds["book"] > 2, "{kinds:?}");
    // The summary on stderr.
    assert!(stderr.contains("tickwire run:"), "{stderr}");
    assert!(stderr.contains("messages"), "{stderr}");
    assert!(stderr.contains("recv→consumed"), "{stderr}");
    assert!(stderr.contains("connection 1 live"), "{stderr}");
    sim.stop();
}

#[test]
fn a_refused_subscription_is_reported_and_ends_the_run() {
    let sim = sim(&["BTCUSDT"], 500);
    let mut child = tickwire(&[
        "run",
        "--url",
        &sim.ws_url(),
        "--symbols",
        "NOPEUSDT",
        "--channels",
        "trade,bbo",
        "--print",
        "--duration",
        "30s",
    ])
    .spawn()
    .unwrap();
    let status = wait(&mut child, Duration::from_secs(25));
    let stderr = stderr_of(&mut child);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("the venue refused nopeusdt@trade, nopeusdt@bookTicker"),
        "{stderr}"
    );
    assert!(stderr.contains("refused every subscription"), "{stderr}");
    assert!(
        stdout.contains(r#""status":"subscription_error""#),
        "{stdout}"
    );
    sim.stop();
}

#[test]
fn one_refused_symbol_leaves_the_others_running() {
    let sim = sim(&["BTCUSDT"], 1000);
    let mut child = tickwire(&[
        "run",
        "--url",
        &sim.ws_url(),
        "--symbols",
        "NOPEUSDT,BTCUSDT",
        "--channels",
        "trade",
        "--print",
        "--duration",
        "2s",
    ])
    .spawn()
    .unwrap();
    let status = wait(&mut child, Duration::from_secs(25));
    let stderr = stderr_of(&mut child);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("the venue refused nopeusdt@trade"),
        "{stderr}"
    );
    assert!(stdout.contains(r#""kind":"trade","venue":"binance","symbol":"BTCUSDT""#));
    sim.stop();
}

#[test]
fn a_refused_upgrade_gives_up_with_a_hint() {
    let sim = sim(&["BTCUSDT"], 500);
    let mut child = tickwire(&[
        "run",
        "--url",
        &sim.ws_url(),
        "--symbols",
        "NOPEUSDT",
        "--channels",
        "trade",
        "--subscribe",
        "url",
        "--print",
    ])
    .spawn()
    .unwrap();
    let status = wait(&mut child, Duration::from_secs(30));
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("could not connect to ws://"), "{stderr}");
    assert!(stderr.contains("WebSocket upgrade refused"), "{stderr}");
    sim.stop();
}

#[test]
fn a_close_right_after_accept_is_named_not_called_a_refusal() {
    // A TCP server that closes every connection as soon as it is accepted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });
    let mut child = tickwire(&[
        "run",
        "--url",
        &format!("ws://127.0.0.1:{port}"),
        "--symbols",
        "BTCUSDT",
        "--channels",
        "trade",
        "--print",
        "--duration",
        "60s",
    ])
    .spawn()
    .unwrap();
    let status = wait(&mut child, Duration::from_secs(30));
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("connection closed before the upgrade response"),
        "{stderr}"
    );
    assert!(!stderr.contains("upgrade refused"), "{stderr}");
    assert!(!stderr.contains("check the path"), "{stderr}");
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    for (args, needle) in [
        (
            &["run", "--venue", "deribit", "--symbols", "BTCUSDT"][..],
            "unknown venue 'deribit'",
        ),
        (
            &["run", "--symbols", "BTCUSDT", "--channels", "kline"][..],
            "unknown channel 'kline'",
        ),
        (
            &["run", "--symbols", "BTC-USDT", "--url", "ws://127.0.0.1:1"][..],
            "'BTC-USDT' is not a Binance symbol",
        ),
        (
            &["run", "--symbols", "BTCUSDT", "--url", "http://127.0.0.1:1"][..],
            "bad --url",
        ),
        (
            &["run", "--symbols", "BTCUSDT", "--depth-speed", "0ms"][..],
            "USD-M only",
        ),
        (
            &[
                "run",
                "--symbols",
                "BTCUSDT",
                "--duration",
                "99999999999999999999s",
            ][..],
            "duration too long",
        ),
        (
            &[
                "record",
                "--symbols",
                "BTCUSDT",
                "--out",
                "/nonexistent/x.twj",
                "--duration",
                "99999999999999999999999h",
            ][..],
            "duration too long",
        ),
    ] {
        let out = tickwire(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn the_demo_runs_recovers_from_its_gap_and_exits_zero() {
    let out = Command::new(BIN)
        .env("TICKWIRE_DEMO_SECONDS", "3")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // Not a terminal: no live frames, only the summary.
    assert!(!stdout.contains('\x1b'), "{stdout}");
    assert!(stdout.starts_with("tickwire demo: 3."), "{stdout}");
    assert!(stdout.contains("3/3 in sync"), "{stdout}");
    assert!(stdout.contains("gaps 1"), "{stdout}");
    assert!(stdout.contains("overflows 0"), "{stdout}");
    assert!(stdout.contains("1 fault injected"), "{stdout}");
    assert!(stdout.contains("what happened"), "{stdout}");
    assert!(stdout.contains("book back in sync after"), "{stdout}");
    for sym in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] {
        assert!(stdout.contains(sym), "{stdout}");
    }
    let messages: u64 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("messages"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap();
    assert!(messages > 1000, "{stdout}");
}

#[test]
fn stats_off_a_terminal_prints_only_the_summary() {
    let sim = sim(&["BTCUSDT"], 1000);
    let out = tickwire(&[
        "run",
        "--url",
        &sim.ws_url(),
        "--symbols",
        "BTCUSDT",
        "--channels",
        "trade,book",
        "--stats",
        "--duration",
        "1s",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.starts_with("tickwire run: 1."), "{stderr}");
    assert!(stderr.contains("1/1 in sync"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    sim.stop();
}

#[test]
fn usdm_routes_book_and_trade_streams_over_two_connections() {
    let mut c = SimConfig::new(Market::UsdM);
    c.symbols = vec!["BTCUSDT".into()];
    c.rate = 2000;
    c.tape_len = 512;
    let sim = SimServer::start(c).unwrap();
    let out = tickwire(&[
        "run",
        "--venue",
        "binance-usdm",
        "--url",
        &sim.ws_url(),
        "--symbols",
        "BTCUSDT",
        "--channels",
        "aggtrade,book",
        "--print",
        "--duration",
        "1500ms",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("/market/stream"), "{stderr}");
    assert!(stderr.contains("/public/stream"), "{stderr}");
    assert!(stderr.contains("2 opened"), "{stderr}");
    let mut snapshot = false;
    let mut trades = 0;
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["venue"], "binance-usdm");
        snapshot |= v["kind"] == "book" && v["flags"] == serde_json::json!(["snapshot", "last"]);
        trades += usize::from(v["kind"] == "trade");
    }
    assert!(snapshot && trades > 0, "{stdout}");
    sim.stop();
}

#[test]
fn wss_with_a_self_signed_certificate_needs_and_takes_cert() {
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = vec!["BTCUSDT".into()];
    c.rate = 1000;
    c.tape_len = 512;
    c.tls = true;
    let sim = SimServer::start(c).unwrap();
    assert!(sim.ws_url().starts_with("wss://"));
    let path = std::env::temp_dir().join(format!("tickwire-run-cli-{}.pem", std::process::id()));
    std::fs::write(&path, sim.cert_pem().unwrap()).unwrap();
    let args = |cert: bool, duration: &str| {
        let mut a = vec![
            "run".to_owned(),
            "--url".into(),
            sim.ws_url(),
            "--symbols".into(),
            "BTCUSDT".into(),
            "--channels".into(),
            "trade".into(),
            "--print".into(),
            "--duration".into(),
            duration.into(),
        ];
        if cert {
            a.extend(["--cert".into(), path.display().to_string()]);
        }
        a
    };
    let trusted = Command::new(BIN).args(args(true, "1s")).output().unwrap();
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(stdout.contains(r#""kind":"trade""#), "{stdout}");
    // Without the certificate the certificate is rejected, named, and not retried (it will
    // not change): the run gives up after the first attempt with the --cert hint.
    let untrusted = Command::new(BIN).args(args(false, "60s")).output().unwrap();
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TLS certificate not trusted (unknown issuer)"),
        "{stderr}"
    );
    // Given up at the first failure the run sees; it used to take five. The engine's backoff
    // is fully jittered (the first retries can come within ms), so on a loaded machine it
    // may have retried once or twice before the run looked: fewer than five, said as such.
    let attempts = stderr
        .split("after ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        attempts.is_some_and(|n| (1..5).contains(&n)),
        "{attempts:?}: {stderr}"
    );
    assert!(stderr.contains("pass --cert"), "{stderr}");
    // With --cert naming another server's certificate: no hint to pass --cert again.
    let mut other = SimConfig::new(Market::Spot);
    other.tls = true;
    let other = SimServer::start(other).unwrap();
    std::fs::write(&path, other.cert_pem().unwrap()).unwrap();
    let wrong = Command::new(BIN).args(args(true, "60s")).output().unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    // Both simulators' certificates have the same subject, so this reads as a bad
    // signature (rejected) rather than an unknown issuer.
    assert!(stderr.contains("TLS certificate"), "{stderr}");
    assert!(!stderr.contains("pass --cert"), "{stderr}");
    assert!(
        stderr.contains("the certificate given with --cert"),
        "{stderr}"
    );
    other.stop();
    let _ = std::fs::remove_file(&path);
    sim.stop();
}

/// `--url` twice: one feed over two lines (two simulators serving the same stream). Line
/// A's connection drops a second into each session: the lines say so in-band, the feed
/// never disconnects nor resyncs, and the summary has the per-line table.
#[test]
fn two_urls_run_one_feed_over_two_lines() {
    let origin = tickwire_engine::clock::now_ns();
    let make = |drop: bool| {
        let mut c = SimConfig::new(Market::Spot);
        c.symbols = vec!["BTCUSDT".into()];
        c.rate = 1000;
        c.clock_origin_ns = Some(origin);
        if drop {
            c.faults = tickwire_tools::sim::parse_schedule("drop@1s").unwrap();
        }
        SimServer::start(c).unwrap()
    };
    let (a, b) = (make(true), make(false));
    let mut child = tickwire(&[
        "run",
        "--url",
        &a.ws_url(),
        "--url",
        &b.ws_url(),
        "--symbols",
        "BTCUSDT",
        "--print",
        "--duration",
        "2500ms",
    ])
    .spawn()
    .unwrap();
    // Read stdout while it runs (a full pipe would stall it).
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let status = wait(&mut child, Duration::from_secs(25));
    let stderr = stderr_of(&mut child);
    let stdout = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stdout.contains(r#""status":"line","detail":"line 0 down: io""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""status":"line","detail":"line 1 up: none""#));
    // Before the shutdown: no gap, no resync, no disconnect of the feed.
    let before_end: Vec<&str> = stdout
        .lines()
        .take_while(|l| !l.contains("shutdown"))
        .collect();
    for bad in [
        r#""status":"gap""#,
        r#""status":"resync""#,
        r#""status":"disconnected""#,
    ] {
        assert!(
            !before_end.iter().any(|l| l.contains(bad)),
            "{bad} in {stdout}"
        );
    }
    assert!(stderr.contains("line 1 behind line 0"), "{stderr}");
    assert!(stderr.contains("connection #0 line 0:"), "{stderr}");
    a.stop();
    b.stop();
}

/// `--url` twice on `venue`: two of its simulators (same stream clock), line A dropped a
/// second into each session. The lines say so in-band; no gap, resync or disconnect before
/// the shutdown; the summary has the per-line table.
fn two_urls_on(venue: &str, symbol: &str) {
    let origin = tickwire_engine::clock::now_ns();
    let make = |drop: bool| {
        let mut c = SimConfig::for_venue(venue).unwrap();
        c.symbols = vec![symbol.into()];
        c.rate = 1000;
        c.clock_origin_ns = Some(origin);
        if drop {
            c.faults = tickwire_tools::sim::parse_schedule("drop@1s").unwrap();
        }
        SimServer::start(c).unwrap()
    };
    let (a, b) = (make(true), make(false));
    let mut child = tickwire(&[
        "run",
        "--venue",
        venue,
        "--url",
        &a.ws_url(),
        "--url",
        &b.ws_url(),
        "--symbols",
        symbol,
        "--channels",
        "book,trade,bbo",
        "--print",
        "--duration",
        "2500ms",
    ])
    .spawn()
    .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let status = wait(&mut child, Duration::from_secs(25));
    let stderr = stderr_of(&mut child);
    let stdout = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stdout.contains(r#""status":"line","detail":"line 0 down: io""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""status":"line","detail":"line 1 up: none""#));
    assert!(stdout.contains(r#""kind":"trade""#), "{stdout}");
    let before_end: Vec<&str> = stdout
        .lines()
        .take_while(|l| !l.contains("shutdown"))
        .collect();
    for bad in [
        r#""status":"gap""#,
        r#""status":"resync""#,
        r#""status":"disconnected""#,
    ] {
        assert!(
            !before_end.iter().any(|l| l.contains(bad)),
            "{bad} in {stdout}"
        );
    }
    assert!(stderr.contains("connection #0 line 1:"), "{stderr}");
    a.stop();
    b.stop();
}

#[test]
fn two_urls_run_one_bybit_feed_over_two_lines() {
    two_urls_on("bybit-linear", "BTCUSDT");
}

#[test]
fn two_urls_run_one_okx_feed_over_two_lines() {
    two_urls_on("okx", "BTC-USDT");
}

#[test]
fn two_urls_run_one_coinbase_feed_over_two_failover_lines() {
    two_urls_on("coinbase", "BTC-USD");
}

#[test]
fn two_urls_run_one_kraken_feed_over_two_failover_lines() {
    two_urls_on("kraken", "BTC/USD");
}

/// `--shard I/N`: two processes given the same six symbols run three each, every symbol in
/// exactly one of them (by name, alternately: the split's rule for equal weights), each
/// with its books in sync; a shard past the last is a usage error.
#[test]
fn shards_of_one_symbol_list_run_in_separate_processes_each_symbol_once() {
    let all = [
        "AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT",
    ];
    let sim = sim(&all, 3000);
    let url = format!("{}/stream", sim.ws_url());
    let list = "fffusdt,EEEUSDT,dddusdt,CCCUSDT,bbbusdt,AAAUSDT";
    let spawn = |shard: &str| {
        tickwire(&[
            "run",
            "--url",
            &url,
            "--symbols",
            list,
            "--channels",
            "trade,book",
            "--print",
            "--duration",
            "3s",
            "--shard",
            shard,
        ])
        .spawn()
        .unwrap()
    };
    let mut children = [spawn("0/2"), spawn("1/2")];
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let mut out = c.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut s = String::new();
                out.read_to_string(&mut s).unwrap();
                s
            })
        })
        .collect();
    let mut symbols: Vec<BTreeSet<String>> = Vec::new();
    for (child, reader) in children.iter_mut().zip(readers) {
        let status = wait(child, Duration::from_secs(30));
        let stderr = stderr_of(child);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("books        3/3 in sync"), "{stderr}");
        let mut seen = BTreeSet::new();
        for line in reader.join().unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if matches!(v["kind"].as_str(), Some("trade" | "book")) {
                seen.insert(v["symbol"].as_str().unwrap().to_owned());
            }
        }
        symbols.push(seen);
    }
    let set = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(symbols[0], set(&["AAAUSDT", "CCCUSDT", "EEEUSDT"]));
    assert_eq!(symbols[1], set(&["BBBUSDT", "DDDUSDT", "FFFUSDT"]));
    let mut bad = tickwire(&[
        "run",
        "--url",
        &url,
        "--symbols",
        "AAAUSDT",
        "--shard",
        "1/2",
        "--duration",
        "1s",
    ])
    .spawn()
    .unwrap();
    let status = wait(&mut bad, Duration::from_secs(10));
    let stderr = stderr_of(&mut bad);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no symbols"), "{stderr}");
    sim.stop();
}
