//! An in-repo driver for the `bybit_decode` fuzz property (`fuzz/fuzz_targets/bybit_decode.rs`
//! needs cargo-fuzz and libFuzzer; this runs the same body on mutated documented messages
//! anywhere). `BYBIT_FUZZ_EXECS` sets the number of executions (default 20,000),
//! `BYBIT_FUZZ_SEED` the mutation seed:
//!
//! `BYBIT_FUZZ_EXECS=5000000 cargo test --release -p tickwire-tests --test bybit_fuzz -- --nocapture`

use tickwire_feeds::fuzzing::{bybit_decode, mutate};

const SEEDS: [&str; 10] = [
    r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#,
    r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1672304484988,"data":{"s":"BTCUSDT","b":[["16493.50","0"]],"a":[["16611.00","0.031"]],"u":18521289,"seq":7961638726},"cts":1672304484985}"#,
    r#"{"topic":"orderbook.1.BTCUSDT","ts":1672304484978,"type":"snapshot","data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":1,"seq":7961638724},"cts":1672304484976}"#,
    r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1709891679005,"data":[{"T":1709891679000,"s":"BTCUSDT","S":"Buy","v":"0.010","p":"27451.00","L":"PlusTick","i":"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110","BT":false,"seq":987654322}]}"#,
    r#"{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[{"i":"2290000000007764263","T":1672304486865,"p":"16578.50","v":"0.001","S":"Sell","s":"BTCUSDT","BT":false},{"i":"2290000000007764264","T":1672304486866,"p":"16578.60","v":"0.5","S":"Buy","s":"BTCUSDT","BT":false}]}"#,
    r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","lastPrice":"17216.00","bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"},"cs":24987956059,"ts":1673272861686}"#,
    r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","price24hPcnt":"0.017","bid1Price":"17215.00","bid1Size":"10.5"},"cs":24987956060,"ts":1673272861700}"#,
    r#"{"success":true,"ret_msg":"","conn_id":"cejreaspqfm9se7usbrg-2xh","req_id":"1","op":"subscribe"}"#,
    r#"{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}"#,
    r#"{"op":"pong","args":["1675418560633"],"conn_id":"cfcb4ocsvfriu23r3er0-1b"}"#,
];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_documented_messages_keep_the_decode_properties() {
    let execs = env("BYBIT_FUZZ_EXECS", 20_000);
    let mut rng = env("BYBIT_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15) | 1;
    let start = std::time::Instant::now();
    for s in SEEDS {
        assert_eq!(bybit_decode(s.as_bytes()), (2, 2), "{s}");
    }
    let (mut ok, mut compared) = (0u64, 0u64);
    let mut corpus: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    for n in 0..execs {
        let mut x = rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng = x;
        let a = &corpus[(x % corpus.len() as u64) as usize];
        let b = &corpus[((x >> 20) % corpus.len() as u64) as usize];
        let input = mutate(a, b, &mut rng, 1 + (x >> 40) as u32 % 2);
        let (o, c) = bybit_decode(&input);
        ok += u64::from(o);
        compared += u64::from(c);
        // Keep some mutants that still decode (bounded) so mutations stack where the
        // decoder reads deep.
        if o > 0 && n % 8 == 0 && input.len() < 4096 {
            if corpus.len() < 256 {
                corpus.push(input);
            } else {
                let i = 10 + (x >> 8) as usize % (corpus.len() - 10);
                corpus[i] = input;
            }
        }
    }
    eprintln!(
        "bybit_decode: {execs} executions + {} seeds in {:.1} s; decodes that succeeded \
         {ok} of {} (spot and linear), key-order comparisons {compared}",
        SEEDS.len(),
        start.elapsed().as_secs_f64(),
        2 * execs,
    );
}
