//! `tickwire replay --venue kraken FILE --print` on a small capture written here from the
//! documented message shapes and venues.md's worked example A (its checksums), and
//! `tickwire run --venue kraken` against `tickwire sim --venue kraken`.

use std::process::Command;

const SNAPSHOT: &str = r#"{"channel":"book","type":"snapshot","data":[{"symbol":"ETH/USD","bids":[{"price":1797.24,"qty":0.43393711},{"price":1797.18,"qty":139.10616255},{"price":1797.13,"qty":139.10995927},{"price":1797.12,"qty":0.80386470},{"price":1797.07,"qty":139.11517673},{"price":1796.98,"qty":5.22282896},{"price":1796.97,"qty":12.17138476},{"price":1796.95,"qty":139.69390939},{"price":1796.88,"qty":4.21870000},{"price":1796.85,"qty":1.22932317}],"asks":[{"price":1797.25,"qty":1.40355852},{"price":1797.28,"qty":10.82400000},{"price":1797.29,"qty":139.09899871},{"price":1797.30,"qty":139.09783403},{"price":1797.37,"qty":139.09216827},{"price":1797.41,"qty":5.24638952},{"price":1797.42,"qty":0.01780330},{"price":1797.46,"qty":33.05700000},{"price":1797.48,"qty":3.11556555},{"price":1797.49,"qty":139.49306646}],"checksum":2606672715,"timestamp":"2025-05-06T10:00:00.000000Z"}]}"#;
const UPDATE: &str = r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[{"price":1797.29,"qty":0.00000000},{"price":1797.52,"qty":1.56601318}],"checksum":3329440863,"timestamp":"2025-05-06T10:00:00.100000Z"}]}"#;

#[test]
fn replay_of_a_kraken_capture_prints_the_contract() {
    let dir = std::env::temp_dir().join(format!("tickwire-kraken-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kraken.txt");
    let lines = [
        r#"{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":1,"system":"online","version":"2.0.0"}]}"#.to_string(),
        SNAPSHOT.to_string(),
        UPDATE.to_string(),
        // A wrong checksum: reported, the book resyncs on the next snapshot.
        UPDATE.replace("3329440863", "1"),
        r#"{"channel":"trade","type":"update","data":[{"symbol":"ETH/USD","side":"sell","price":1797.24,"qty":2e-3,"ord_type":"market","trade_id":77,"timestamp":"2025-05-06T10:00:01Z"}]}"#.to_string(),
        r#"{"channel":"heartbeat"}"#.to_string(),
    ];
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{} {l}\n",
                1_700_000_000_000_000_000u64 + i as u64 * 1_000_000
            )
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["replay", "--venue", "kraken", "--print"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = stdout.lines().collect();
    // The snapshot run (20 levels), then the update: the delete first, then the new level.
    assert_eq!(got.len(), 20 + 2 + 2 + 1, "{stdout}");
    assert_eq!(
        got[0],
        r#"{"kind":"book","venue":"kraken","symbol":"ETH/USD","side":"bid","price":"1797.24","qty":"0.43393711","seq":null,"exchange_ts":1746525600000000000,"flags":["snapshot"]}"#
    );
    assert_eq!(
        got[20],
        r#"{"kind":"book","venue":"kraken","symbol":"ETH/USD","side":"ask","price":"1797.29","qty":"0.00000000","seq":null,"exchange_ts":1746525600100000000,"flags":[]}"#
    );
    assert_eq!(
        got[21],
        r#"{"kind":"book","venue":"kraken","symbol":"ETH/USD","side":"ask","price":"1797.52","qty":"1.56601318","seq":null,"exchange_ts":1746525600100000000,"flags":["last"]}"#
    );
    assert!(got[22].contains(r#""status":"checksum""#), "{stdout}");
    assert!(got[23].contains(r#""status":"resync""#), "{stdout}");
    assert!(
        got[24].starts_with(r#"{"kind":"trade","venue":"kraken","symbol":"ETH/USD","side":"sell","price":"1797.24","qty":"0.002","id":77,"exchange_ts":1746525601000000000,"#),
        "{stdout}"
    );
    assert!(stderr.contains("depth 10"), "{stderr}");
    assert!(stderr.contains("checksums checked 3 failed 1"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_against_the_kraken_simulator_prints_a_synced_book_and_trades() {
    use tickwire_tools::sim::{SimConfig, SimServer};
    let mut sc = SimConfig::for_venue("kraken").unwrap();
    sc.symbols = vec!["BTC/USD".into()];
    sc.rate = 500;
    let sim = SimServer::start(sc).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["run", "--venue", "kraken", "--symbols", "btc/usd"])
        .args(["--channels", "book,trade,bbo", "--duration", "2s"])
        .args(["--url", &format!("{}/v2", sim.ws_url())])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let snapshot_runs = stdout
        .lines()
        .filter(|l| l.contains(r#""kind":"book""#) && l.contains(r#"["snapshot","last"]"#))
        .count();
    assert_eq!(snapshot_runs, 1, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(r#"{"kind":"trade","venue":"kraken","symbol":"BTC/USD""#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(r#"{"kind":"bbo","venue":"kraken""#)
                && l.contains(r#""seq":null"#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(r#""kind":"book""#) && l.ends_with(r#""flags":["last"]}"#))
    );
    // The only resync is the one at shutdown (the books stop being kept).
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains(r#""status":"resync""#))
            .all(|l| l.contains(r#""detail":"shutdown""#)),
        "{stdout}"
    );
    assert!(!stdout.contains(r#""status":"checksum""#), "{stdout}");
}
