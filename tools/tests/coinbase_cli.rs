//! `tickwire replay --venue coinbase FILE --print` on a small capture written here from the
//! documented message shapes, and `tickwire run --venue coinbase` against `tickwire sim
//! --venue coinbase`: books with `seq` = `sequence_num`, products as Coinbase spells them.

use std::process::Command;

#[test]
fn replay_of_a_coinbase_capture_prints_the_contract() {
    let dir = std::env::temp_dir().join(format!("tickwire-coinbase-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("coinbase.txt");
    let env = |n: u32, ch: &str, ev: &str| {
        format!(
            r#"{{"channel":"{ch}","client_id":"","timestamp":"2026-04-07T14:30:00Z","sequence_num":{n},"events":[{ev}]}}"#
        )
    };
    let lines = [
        env(
            0,
            "subscriptions",
            r#"{"subscriptions":{"level2":["SOL-USD"]}}"#,
        ),
        env(
            1,
            "l2_data",
            r#"{"type":"snapshot","product_id":"SOL-USD","updates":[{"side":"bid","event_time":"2026-04-07T14:30:00Z","price_level":"142.10","new_quantity":"5"},{"side":"offer","event_time":"2026-04-07T14:30:00Z","price_level":"142.20","new_quantity":"2"}]}"#,
        ),
        env(
            2,
            "l2_data",
            r#"{"type":"update","product_id":"SOL-USD","updates":[{"side":"bid","event_time":"2026-04-07T14:30:00Z","price_level":"142.10","new_quantity":"0"}]}"#,
        ),
        env(
            3,
            "market_trades",
            r#"{"type":"update","trades":[{"trade_id":"995098700","product_id":"SOL-USD","price":"142.15","size":"0.5","side":"SELL","time":"2026-04-07T14:30:00Z"}]}"#,
        ),
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
        .args(["replay", "--venue", "coinbase", "--print"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = stdout.lines().collect();
    // 2026-04-07T14:30:00Z = 1,775,572,200 s.
    let want = [
        r#"{"kind":"book","venue":"coinbase","symbol":"SOL-USD","side":"bid","price":"142.10","qty":"5","seq":1,"exchange_ts":1775572200000000000,"flags":["snapshot"]}"#,
        r#"{"kind":"book","venue":"coinbase","symbol":"SOL-USD","side":"ask","price":"142.20","qty":"2","seq":1,"exchange_ts":1775572200000000000,"flags":["snapshot","last"]}"#,
        r#"{"kind":"book","venue":"coinbase","symbol":"SOL-USD","side":"bid","price":"142.10","qty":"0","seq":2,"exchange_ts":1775572200000000000,"flags":["last"]}"#,
        // A "SELL" maker side: the buyer took.
        r#"{"kind":"trade","venue":"coinbase","symbol":"SOL-USD","side":"buy","price":"142.15","qty":"0.5","id":995098700,"exchange_ts":1775572200000000000,"flags":[]}"#,
    ];
    assert_eq!(got, want, "{stdout}");
    assert!(stderr.contains("0 sequence breaks"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_against_the_coinbase_simulator_prints_synced_books_and_trades() {
    use tickwire_tools::sim::{SimConfig, SimServer};
    let mut sc = SimConfig::for_venue("coinbase").unwrap();
    sc.symbols = vec!["BTC-USD".into(), "SOL-USD".into()];
    sc.rate = 500;
    let sim = SimServer::start(sc).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["run", "--venue", "coinbase", "--symbols", "btc-usd,sol-usd"])
        .args(["--channels", "book,trade,bbo", "--duration", "2s"])
        .args(["--url", &format!("{}/", sim.ws_url())])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for p in ["BTC-USD", "SOL-USD"] {
        let runs = stdout
            .lines()
            .filter(|l| {
                l.contains(r#""kind":"book""#)
                    && l.contains(&format!(r#""symbol":"{p}""#))
                    && l.contains(r#"["snapshot","last"]"#)
            })
            .count();
        assert_eq!(runs, 1, "{p}: {stderr}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(r#"{"kind":"trade","venue":"coinbase","symbol":"#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(r#"{"kind":"bbo","venue":"coinbase""#))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(r#""kind":"book""#) && l.ends_with(r#""flags":["last"]}"#))
    );
    // No gap; the only resyncs are the shutdown's at the end of --duration.
    assert!(!stdout.contains(r#""status":"gap""#), "{stdout}");
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains(r#""status":"resync""#))
            .all(|l| l.contains(r#""detail":"shutdown""#)),
        "{stdout}"
    );
}
