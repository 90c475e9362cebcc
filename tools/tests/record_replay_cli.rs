//! `tickwire record` and `tickwire replay` as a user runs them: the real captures of
//! `shared/data`, a recording from the simulator stopped by SIGINT, and the errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tickwire_tools::sim::{Market, SimConfig, SimServer};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
}

fn data(name: &str) -> PathBuf {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from("/work/shared/data").join(name)
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-cli-{}-{name}", std::process::id()))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn replays_the_usdm_capture_with_a_full_book_sync() {
    let o = bin()
        .args(["replay", "--venue", "binance-usdm"])
        .arg(data("binance_usdm_btcusdt_20240808.gz"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // Every line replayed: 93,953 frames and the snapshot, plus the session start.
    assert!(out.contains("93955 records"), "{out}");
    assert!(out.contains("snapshots 1 (applied 1"), "{out}");
    assert!(out.contains("trades 21313"), "{out}");
    assert!(out.contains("bbo 66089"), "{out}");
    assert!(out.contains("gaps 0  resyncs 0  decode errors 0"), "{out}");
}

#[test]
fn print_writes_json_lines_in_the_decode_format() {
    let o = bin()
        .args(["replay", "--venue", "binance", "--print"])
        .arg(data("binance_spot_btcusdt_20240808.gz"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // The summary goes to stderr; stdout is events only.
    assert!(err.contains("events 163871"), "{err}");
    assert_eq!(lines.len(), 163_871);
    assert!(lines.iter().all(|l| l.starts_with("{\"kind\":")));
    assert_eq!(
        lines[0],
        r#"{"kind":"status","venue":"binance","symbol":null,"status":"connected","detail":"none 1"}"#
    );
    let snapshot_last = lines
        .iter()
        .filter(|l| l.contains(r#""flags":["snapshot","last"]"#))
        .count();
    assert_eq!(snapshot_last, 1);
}

#[test]
fn errors_say_what_is_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["replay", "/nonexistent/x.gz"], "no such file"),
        (
            &["replay", "--venue", "binance", "README.md"],
            "not a tickwire journal",
        ),
        (
            &["replay", "binance_spot_btcusdt_20240808.gz"],
            "does not name its venue",
        ),
        (
            &[
                "replay",
                "--venue",
                "kraken-futures",
                "binance_spot_btcusdt_20240808.gz",
            ],
            "unknown venue",
        ),
        (
            &["replay", "--speed", "0", "binance_spot_btcusdt_20240808.gz"],
            "speed must be a positive number",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                // Bare file names are files of shared/data.
                if a.contains('.') && !a.contains('/') && !a.starts_with('-') {
                    data(a).display().to_string()
                } else {
                    (*a).to_string()
                }
            })
            .collect();
        let o = bin().args(&args).output().unwrap();
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let o = bin()
        .args(["record", "--venue", "nope", "--symbols", "BTCUSDT", "--out"])
        .arg(temp("never.gz"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("unknown venue"));
}

#[test]
fn record_stops_cleanly_on_sigint_and_the_journal_replays() {
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = vec!["btcusdt".into(), "ethusdt".into()];
    c.rate = 2000;
    c.tape_len = 1024;
    let sim = SimServer::start(c).unwrap();
    let out = temp("sigint.journal.gz");
    let child = bin()
        .args([
            "record",
            "--venue",
            "binance",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--url",
            &sim.ws_url(),
            "--rest-url",
            &sim.rest_url(),
            "--out",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sending SIGINT to the child this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let t0 = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10));
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("0 records lost"), "{err}");

    let o = bin().arg("replay").arg(&out).output().unwrap();
    let (summary, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        summary.starts_with("journal binance (6 streams)"),
        "{summary}"
    );
    // One session, closed by the shutdown; both books synced from recorded snapshots.
    assert!(
        summary.contains("sessions 1  disconnects 1  lost 0"),
        "{summary}"
    );
    assert!(summary.contains("snapshots 2 (applied 2"), "{summary}");
    assert!(summary.contains("gaps 0"), "{summary}");

    // A cut journal replays what it holds, then says it is truncated.
    let bytes = std::fs::read(&out).unwrap();
    let cut = temp("cut.journal.gz");
    std::fs::File::create(&cut)
        .unwrap()
        .write_all(&bytes[..bytes.len() * 2 / 3])
        .unwrap();
    let o = bin().arg("replay").arg(&cut).output().unwrap();
    let (summary, err) = text(&o);
    assert!(!o.status.success());
    assert!(summary.contains("journal binance"), "{summary}");
    assert!(err.contains("journal truncated at record"), "{err}");
    assert!(err.contains("its records are not shown"), "{err}");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&cut);
}

#[test]
fn speed_paces_by_the_recorded_receive_times() {
    // The first 400 lines of the spot capture, uncompressed: about a second of data.
    let mut lines = Vec::new();
    let f = std::fs::File::open(data("binance_spot_btcusdt_20240808.gz")).unwrap();
    let capture = std::io::read_to_string(flate2::read::GzDecoder::new(f)).unwrap();
    lines.extend(capture.lines().take(400));
    let first: u64 = lines[0].split(' ').next().unwrap().parse().unwrap();
    let last: u64 = lines[399].split(' ').next().unwrap().parse().unwrap();
    let span = Duration::from_nanos(last - first);
    assert!(span > Duration::from_millis(500), "{span:?}");
    let path = temp("pace.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    for (speed, at_least) in [("1", span), ("4", span / 4)] {
        let t0 = Instant::now();
        let o = bin()
            .args(["replay", "--venue", "binance", "--speed", speed])
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
        // Paced: never faster than the recording allows (the bound, not the exact time).
        assert!(
            t0.elapsed() >= at_least.mul_f64(0.95),
            "speed {speed}: {:?}",
            t0.elapsed()
        );
        // 400 lines and the session start.
        assert!(text(&o).0.contains("401 records"), "{}", text(&o).0);
    }
    let _ = std::fs::remove_file(&path);
}

/// A journal of `n` spot trades (ids 0..n, price 61837.<id % 100>, qty 0.02643), gzip.
fn trade_journal(n: u64) -> Vec<u8> {
    use tickwire_tools::journal::{Header, JournalWriter, Kind};
    let streams = vec!["btcusdt@trade".to_string()];
    let header = Header::new("binance", &streams, 1);
    let mut w = JournalWriter::gzip(Vec::new(), &header, flate2::Compression::default()).unwrap();
    w.write(Kind::Connect, 1, 1, b"btcusdt@trade").unwrap();
    for id in 0..n {
        let e = 1_723_161_255_000u64 + id;
        let msg = format!(
            r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{e},"s":"BTCUSDT","t":{id},"p":"61837.{:02}","q":"0.02643000","T":{e},"m":true,"M":true}}}}"#,
            id % 100
        );
        w.write(Kind::Text, 10 + id, 1, msg.as_bytes()).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn a_damaged_journal_prints_only_verified_events_and_says_what_was_lost() {
    let n = 6_000;
    let bytes = trade_journal(n);
    let path = temp("damaged.journal.gz");
    std::fs::write(&path, &bytes).unwrap();
    let o = bin()
        .args(["replay", "--print"])
        .arg(&path)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains(r#""kind":"trade""#))
            .count(),
        n as usize
    );
    assert!(!err.contains("not verified"), "{err}");
    // One flipped bit in each third of the file (gzip members in between stay good).
    for at in [bytes.len() / 3, bytes.len() / 2, bytes.len() * 3 / 4] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let o = bin()
            .args(["replay", "--print"])
            .arg(&path)
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "byte {at}: {err}");
        assert!(err.contains("journal damaged"), "byte {at}: {err}");
        assert!(err.contains("records lost"), "byte {at}: {err}");
        // Every trade printed is one that was written, once.
        let mut seen = std::collections::BTreeSet::new();
        for l in out.lines().filter(|l| l.contains(r#""kind":"trade""#)) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let id = v["id"].as_u64().unwrap();
            assert!(id < n && seen.insert(id), "byte {at}: {l}");
            assert_eq!(
                v["price"],
                format!("61837.{:02}", id % 100),
                "byte {at}: {l}"
            );
            assert_eq!(v["qty"], "0.02643000", "byte {at}: {l}");
        }
        assert!(seen.len() < n as usize, "byte {at}");
        // What is missing is what the reader said was lost.
        let lost: u64 = err
            .split("records lost")
            .next()
            .and_then(|h| h.rsplit(' ').nth(1))
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        assert_eq!(lost, n - seen.len() as u64, "byte {at}: {err}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn empty_and_version_1_journals_say_so() {
    let path = temp("empty.journal");
    std::fs::write(&path, b"").unwrap();
    let o = bin().arg("replay").arg(&path).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("empty file"), "{}", text(&o).1);
    let gz = temp("empty.journal.gz");
    std::fs::write(
        &gz,
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default())
            .finish()
            .unwrap(),
    )
    .unwrap();
    let o = bin().arg("replay").arg(&gz).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("empty file"), "{}", text(&o).1);
    // Version 1 (no checksums) replays, with a warning.
    std::fs::write(
        &path,
        b"tickwire-journal 1 venue=binance streams=btcusdt@trade tool=0.1.0 started=1\n\
          connect 1 1 13 btcusdt@trade\n",
    )
    .unwrap();
    let o = bin().arg("replay").arg(&path).output().unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).1.contains("not verified"), "{}", text(&o).1);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&gz);
}

/// The summary's second and third lines (messages, snapshots, events by kind).
fn counts(summary: &str) -> String {
    summary
        .lines()
        .skip(1)
        .take(2)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_capture_syncs_whatever_its_snapshot_line_looks_like_or_where_it_is() {
    let plain = |name: &str| {
        let f = std::fs::File::open(data(name)).unwrap();
        std::io::read_to_string(flate2::read::GzDecoder::new(f)).unwrap()
    };
    let replay = |venue: &str, path: &std::path::Path| {
        let o = bin()
            .args(["replay", "--venue", venue])
            .arg(path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o).1);
        text(&o).0
    };
    // Spot: the REST snapshot line moved before the first diff. The book must sync from it
    // as from the original (whose snapshot comes after seven diffs): the same events.
    let spot = plain("binance_spot_btcusdt_20240808.gz");
    let lines: Vec<&str> = spot.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(r#" {"lastUpdateId""#))
        .unwrap();
    assert!(at > 0 && lines[..at].iter().any(|l| l.contains("@depth")));
    let mut moved = vec![lines[at]];
    moved.extend(
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, l)| *l),
    );
    let original = temp("spot.txt");
    let first = temp("spot-snapshot-first.txt");
    std::fs::write(&original, lines.join("\n")).unwrap();
    std::fs::write(&first, moved.join("\n")).unwrap();
    let want = replay("binance", &original);
    assert!(want.contains("snapshots 1 (applied 1"), "{want}");
    assert_eq!(counts(&replay("binance", &first)), counts(&want));
    // USD-M: the snapshot's keys in another order (E, T first), after leading spaces.
    let usdm = plain("binance_usdm_btcusdt_20240808.gz");
    let reordered: Vec<String> = usdm
        .lines()
        .map(|l| {
            let Some((ts, body)) = l.split_once(' ') else {
                return l.to_owned();
            };
            let Some(rest) = body.strip_prefix(r#"{"lastUpdateId":"#) else {
                return l.to_owned();
            };
            // {"lastUpdateId":N,"E":e,"T":t,rest -> {"E":e,"T":t,"lastUpdateId":N,rest
            let (id, rest) = rest.split_once(',').unwrap();
            let (e, rest) = rest.split_once(',').unwrap();
            let (t, rest) = rest.split_once(',').unwrap();
            format!("{ts}   {{{e},{t},\"lastUpdateId\":{id},{rest}")
        })
        .collect();
    assert!(reordered.iter().any(|l| l.contains(r#"   {"E":"#)));
    let original_usdm = temp("usdm.txt");
    let reordered_path = temp("usdm-reordered.txt");
    std::fs::write(&original_usdm, usdm).unwrap();
    std::fs::write(&reordered_path, reordered.join("\n")).unwrap();
    let want = replay("binance-usdm", &original_usdm);
    assert!(want.contains("snapshots 1 (applied 1"), "{want}");
    assert_eq!(
        counts(&replay("binance-usdm", &reordered_path)),
        counts(&want)
    );
    for p in [original, first, original_usdm, reordered_path] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn a_relabelled_journal_says_its_depth_messages_were_not_shown() {
    use tickwire_tools::journal::{Header, JournalWriter, Kind};
    // USD-M data (its first 3,000 lines and the REST snapshot) in a journal whose header
    // says spot, and the same journal labelled right.
    let f = std::fs::File::open(data("binance_usdm_btcusdt_20240808.gz")).unwrap();
    let usdm = std::io::read_to_string(flate2::read::GzDecoder::new(f)).unwrap();
    let streams: Vec<String> = ["btcusdt@depth@0ms", "btcusdt@bookTicker", "btcusdt@trade"]
        .map(String::from)
        .to_vec();
    let journal = |venue: &str, snapshot_id: Option<u64>| {
        let mut w = JournalWriter::gzip(
            Vec::new(),
            &Header::new(venue, &streams, 1),
            flate2::Compression::fast(),
        )
        .unwrap();
        w.write(Kind::Connect, 1, 1, streams.join(",").as_bytes())
            .unwrap();
        for line in usdm.lines().take(3_000) {
            let (ts, frame) = line.split_once(' ').unwrap();
            let ts: u64 = ts.parse().unwrap();
            if let Some(rest) = frame
                .strip_prefix('{')
                .filter(|f| f.starts_with(r#""lastUpdateId""#))
            {
                // The journal's snapshot payload: the REST body with symbol and venue time.
                let mut payload = format!(r#"{{"symbol":"BTCUSDT","exchange_ts":0,{rest}"#);
                if let Some(id) = snapshot_id {
                    let at = payload.find(r#""lastUpdateId":"#).unwrap() + 15;
                    let end = at + payload[at..].find(',').unwrap();
                    payload.replace_range(at..end, &id.to_string());
                }
                w.write(Kind::Snapshot, ts, 1, payload.as_bytes()).unwrap();
            } else {
                w.write(Kind::Text, ts, 1, frame.as_bytes()).unwrap();
            }
        }
        w.into_inner().unwrap()
    };
    let path = temp("relabelled.journal.gz");
    std::fs::write(&path, journal("binance-usdm", None)).unwrap();
    let o = bin().arg("replay").arg(&path).output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("snapshots 1 (applied 1"), "{out}");
    assert!(!err.contains("depth messages"), "{err}");
    // Labelled spot: the spot sync rule takes the snapshot, then the USD-M chain breaks
    // it (a gap); what came after never became events, and the count says so.
    std::fs::write(&path, journal("binance", None)).unwrap();
    let o = bin().arg("replay").arg(&path).output().unwrap();
    let (out, err) = text(&o);
    let depth = usdm
        .lines()
        .take(3_000)
        .filter(|l| l.contains("@depth"))
        .count() as u64;
    let pending: u64 = err
        .split("book BTCUSDT out of sync at the end: its last ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}{err}"));
    assert!(pending > 0 && pending < depth, "{pending} of {depth}");
    assert!(out.contains("gaps 1"), "{out}");
    // A snapshot older than every diff (its id 10): the book never syncs, none of the depth
    // messages is shown, and the replay fails saying so.
    std::fs::write(&path, journal("binance-usdm", Some(10))).unwrap();
    let o = bin().arg("replay").arg(&path).output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("book levels 0"), "{out}");
    assert!(
        err.contains(&format!(
            "book BTCUSDT never got in sync: none of its {depth} depth messages was shown"
        )),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn recording_to_a_full_disk_never_claims_nothing_was_lost() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let mut c = SimConfig::new(Market::Spot);
    c.symbols = vec!["btcusdt".into()];
    c.rate = 2000;
    c.tape_len = 1024;
    let sim = SimServer::start(c).unwrap();
    // Every write to /dev/full fails with ENOSPC (the old recorder buffered the header in
    // its gzip stream, recorded for the whole run and then said "0 records lost").
    let o = bin()
        .args([
            "record",
            "--venue",
            "binance",
            "--symbols",
            "BTCUSDT",
            "--url",
        ])
        .arg(sim.ws_url())
        .args([
            "--rest-url",
            &sim.rest_url(),
            "--duration",
            "2s",
            "--out",
            "/dev/full",
        ])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("0 records lost"), "{err}");
    sim.stop();
}
