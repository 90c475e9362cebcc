//! An in-repo driver for the `kraken_decode` fuzz property (`fuzz/fuzz_targets/kraken_decode.rs`
//! needs cargo-fuzz and libFuzzer; this runs the same body on mutated documented messages
//! anywhere). `KRAKEN_FUZZ_EXECS` sets the number of executions (default 20,000),
//! `KRAKEN_FUZZ_SEED` the mutation seed:
//!
//! `KRAKEN_FUZZ_EXECS=5000000 cargo test --release -p tickwire-tests --test kraken_fuzz -- --nocapture`

use tickwire_feeds::fuzzing::{kraken_decode, mutate};

/// Documented shapes (venues.md §4), worked example A's update, number edge cases.
const SEEDS: [&str; 10] = [
    r#"{"channel":"book","type":"snapshot","data":[{"symbol":"ETH/USD","bids":[{"price":1797.24,"qty":0.43393711},{"price":1797.18,"qty":139.10616255}],"asks":[{"price":1797.25,"qty":1.40355852},{"price":1797.30,"qty":139.09783403}],"checksum":2606672715,"timestamp":"2025-05-06T10:00:00.000000Z"}]}"#,
    r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[{"price":1797.29,"qty":0.00000000},{"price":1797.52,"qty":1.56601318}],"checksum":3329440863,"timestamp":"2025-05-06T10:00:00.100000Z"}]}"#,
    r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":84205.0,"qty":5.325e-05},{"price":84205.0,"qty":0},{"price":84204.9,"qty":1e-8}],"asks":[],"checksum":1,"timestamp":"2023-09-25T09:04:31.742599Z"}]}"#,
    r#"{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":26800.1,"qty":0.01000000,"ord_type":"market","trade_id":74593467,"timestamp":"2023-09-25T09:04:31.742599Z"}]}"#,
    r#"{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":26800.0,"bid_qty":0.5,"ask":26800.1,"ask_qty":1.25,"last":26800.1,"volume":1000.0,"vwap":26000.0,"low":25000.0,"high":27000.0,"change":10.0,"change_pct":0.04,"timestamp":"2023-09-25T09:04:31Z"}]}"#,
    r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled","precision":10}],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"price_increment":0.1,"price_precision":1}]}}"#,
    r#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z","req_id":1}"#,
    r#"{"error":"Currency pair not supported","method":"subscribe","req_id":7,"success":false,"symbol":"XBT/USDD","time_in":"x","time_out":"y"}"#,
    r#"{"method":"pong","req_id":42,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#,
    r#"{"channel":"heartbeat"}"#,
];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_documented_messages_keep_the_decode_properties() {
    let execs = env("KRAKEN_FUZZ_EXECS", 20_000);
    let mut rng = env("KRAKEN_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15) | 1;
    let start = std::time::Instant::now();
    for s in SEEDS {
        assert!(kraken_decode(s.as_bytes()), "{s}");
    }
    let mut ok = 0u64;
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
        let o = kraken_decode(&input);
        ok += u64::from(o);
        // Keep some mutants that still decode (bounded) so mutations stack where the
        // decoder reads deep.
        if o && n % 8 == 0 && input.len() < 4096 {
            if corpus.len() < 256 {
                corpus.push(input);
            } else {
                let i = 10 + (x >> 8) as usize % (corpus.len() - 10);
                corpus[i] = input;
            }
        }
    }
    eprintln!(
        "kraken_decode: {execs} executions + {} seeds in {:.1} s; decodes that succeeded {ok}",
        SEEDS.len(),
        start.elapsed().as_secs_f64(),
    );
}
