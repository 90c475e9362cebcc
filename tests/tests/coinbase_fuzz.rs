//! An in-repo driver for the `coinbase_decode` fuzz property
//! (`fuzz/fuzz_targets/coinbase_decode.rs` needs cargo-fuzz and libFuzzer; this runs the same
//! body on mutated documented messages anywhere). `COINBASE_FUZZ_EXECS` sets the number of
//! executions (default 20,000), `COINBASE_FUZZ_SEED` the mutation seed:
//!
//! `COINBASE_FUZZ_EXECS=5000000 cargo test --release -p tickwire-tests --test coinbase_fuzz -- --nocapture`

use tickwire_feeds::fuzzing::{coinbase_decode, mutate};

const SEEDS: [&str; 8] = [
    r#"{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:00.123456Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-04-07T14:30:00.123456Z","price_level":"68900.00","new_quantity":"1.50000000"},{"side":"offer","event_time":"2026-04-07T14:30:00.123456Z","price_level":"68901.00","new_quantity":"0.50000000"}]}]}"#,
    r#"{"channel":"l2_data","client_id":"","timestamp":"2026-04-07T14:30:01.456789Z","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2026-04-07T14:30:01.456789Z","price_level":"68901.00","new_quantity":"0.00000000"}]}]}"#,
    r#"{"channel":"market_trades","client_id":"","timestamp":"2026-04-07T14:30:02.789012Z","sequence_num":5,"events":[{"type":"update","trades":[{"trade_id":"995098700","product_id":"BTC-USD","price":"68900.50","size":"0.00150000","side":"BUY","time":"2026-04-07T14:30:02.789012Z"}]}]}"#,
    r#"{"channel":"ticker","client_id":"","timestamp":"2026-04-07T14:30:03Z","sequence_num":6,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"SOL-USD","price":"142.10","volume_24_h":"1000","best_bid":"142.09","best_bid_quantity":"12.5","best_ask":"142.11","best_ask_quantity":"0.75"}]}]}"#,
    r#"{"channel":"heartbeats","client_id":"","timestamp":"2026-04-07T14:30:04Z","sequence_num":7,"events":[{"current_time":"2026-04-07 14:30:04.0 +0000 UTC m=+1.0","heartbeat_counter":"3"}]}"#,
    r#"{"channel":"heartbeats","client_id":"","timestamp":"2026-04-07T14:30:05Z","sequence_num":8,"events":[{"current_time":"2026-04-07 14:30:05.0 +0000 UTC m=+2.0","heartbeat_counter":4}]}"#,
    r#"{"channel":"subscriptions","client_id":"","timestamp":"2026-04-07T14:30:00Z","sequence_num":1,"events":[{"subscriptions":{"level2":["BTC-USD"],"heartbeats":["heartbeats"]}}]}"#,
    r#"{"type":"error","message":"too many L2 streams requested in a single session"}"#,
];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_documented_messages_keep_the_decode_properties() {
    let execs = env("COINBASE_FUZZ_EXECS", 20_000);
    let mut rng = env("COINBASE_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15) | 1;
    let start = std::time::Instant::now();
    for s in SEEDS {
        assert_eq!(coinbase_decode(s.as_bytes()), (1, 1), "{s}");
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
        let (o, c) = coinbase_decode(&input);
        ok += u64::from(o);
        compared += u64::from(c);
        // Keep some mutants that still decode (bounded) so mutations stack deep.
        if o > 0 && n % 8 == 0 && input.len() < 4096 {
            if corpus.len() < 256 {
                corpus.push(input);
            } else {
                let i = SEEDS.len() + (x >> 8) as usize % (corpus.len() - SEEDS.len());
                corpus[i] = input;
            }
        }
    }
    eprintln!(
        "coinbase_decode: {execs} executions + {} seeds in {:.1} s; decodes that succeeded \
         {ok}, key-order comparisons {compared}",
        SEEDS.len(),
        start.elapsed().as_secs_f64(),
    );
}
