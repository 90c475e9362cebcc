//! `tickwire replay --venue okx FILE --print` on a small capture written here from the
//! documented message shapes: the in-band snapshot as one run, updates chained by
//! `prevSeqId`, a keep-alive (no event), a gap (gap and resync statuses), a snapshot that
//! recovers, a trade.

use std::process::Command;

fn book(action: &str, prev: i64, seq: u64, bids: &str, asks: &str) -> String {
    format!(
        r#"{{"arg":{{"channel":"books","instId":"AVAX-USDT"}},"action":"{action}","data":[{{"asks":[{asks}],"bids":[{bids}],"ts":"1000","checksum":0,"prevSeqId":{prev},"seqId":{seq}}}]}}"#
    )
}

#[test]
fn replay_of_an_okx_capture_prints_the_contract() {
    let dir = std::env::temp_dir().join(format!("tickwire-okx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("okx.txt");
    let lines = [
        book("snapshot", -1, 10, r#"["20","1","0","1"]"#, r#"["21","2","0","1"]"#),
        book("update", 10, 11, r#"["20","3","0","1"]"#, ""),
        book("update", 11, 11, "", ""),
        book("update", 12, 13, r#"["19","1","0","1"]"#, ""),
        book("snapshot", -1, 20, r#"["18","1","0","1"]"#, r#"["22","1","0","1"]"#),
        r#"{"arg":{"channel":"trades","instId":"AVAX-USDT"},"data":[{"instId":"AVAX-USDT","tradeId":"77","px":"20.5","sz":"3","side":"buy","ts":"1000","count":"1"}]}"#.to_string(),
    ];
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{} {l}\n",
                1_700_000_000_000_000_000u64 + i as u64 * 1_000_000_000
            )
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["replay", "--venue", "okx", "--print"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = stdout.lines().collect();
    let want = [
        // The run keeps the wire order (OKX sends asks first).
        r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"ask","price":"21","qty":"2","seq":10,"exchange_ts":1000000000,"flags":["snapshot"]}"#,
        r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"bid","price":"20","qty":"1","seq":10,"exchange_ts":1000000000,"flags":["snapshot","last"]}"#,
        r#"{"kind":"book","venue":"okx","symbol":"AVAX-USDT","side":"bid","price":"20","qty":"3","seq":11,"exchange_ts":1000000000,"flags":["last"]}"#,
    ];
    assert_eq!(&got[..3], &want, "{stdout}");
    let rest = got[3..].join("\n");
    assert!(rest.contains(r#""status":"gap""#), "{stdout}");
    assert!(rest.contains(r#""status":"resync""#), "{stdout}");
    assert!(
        rest.contains(r#""side":"bid","price":"18","qty":"1","seq":20,"exchange_ts":1000000000,"flags":["snapshot","last"]"#),
        "{stdout}"
    );
    assert!(
        got.last().unwrap().starts_with(r#"{"kind":"trade","venue":"okx","symbol":"AVAX-USDT","side":"buy","price":"20.5","qty":"3","id":77,"#),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gaps 1"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_against_the_okx_simulator_prints_a_synced_book_and_trades() {
    use tickwire_tools::sim::{SimConfig, SimServer};
    let mut sc = SimConfig::for_venue("okx").unwrap();
    sc.symbols = vec!["BTC-USDT".into()];
    sc.rate = 500;
    let sim = SimServer::start(sc).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["run", "--venue", "okx", "--symbols", "btc-usdt"])
        .args(["--channels", "book,trade,bbo", "--duration", "2s"])
        .args(["--url", &format!("{}/ws/v5/public", sim.ws_url())])
        .args(["--rest-url", &sim.rest_url()])
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
            .any(|l| l.starts_with(r#"{"kind":"trade","venue":"okx","symbol":"BTC-USDT""#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(r#"{"kind":"bbo","venue":"okx""#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(r#""kind":"book""#) && l.ends_with(r#""flags":["last"]}"#))
    );
    // No resync but the one the shutdown publishes (run's common session ends with it).
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains(r#""status":"resync""#) && !l.contains(r#""detail":"shutdown""#)),
        "{stdout}"
    );
    assert!(stderr.contains("resyncs 0"), "{stderr}");
}
