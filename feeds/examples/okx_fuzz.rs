//! A mutation fuzz loop over the `okx_decode` fuzz body (`tickwire_feeds::fuzzing`), for
//! machines without cargo-fuzz: seeds are OKX messages of every kind, each input a seed
//! mutated 1–8 times (bit flips, JSON punctuation, digits and signs written over bytes,
//! ranges deleted or repeated, splices of two seeds). Not coverage-guided: the cargo-fuzz
//! target `fuzz/fuzz_targets/okx_decode.rs` runs the same body under libFuzzer.
//!
//! `cargo run --release -p tickwire-feeds --example okx_fuzz -- 5000000 [seed]`

use std::time::Instant;

const SEEDS: &[&str] = &[
    r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}]}"#,
    r#"{"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["30249.4","0","0","0"],["30261","4","0","1"],["30310.3","19","0","1"]],"bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754}]}"#,
    r#"{"data":[{"seqId":11,"prevSeqId":10,"checksum":0,"ts":"5","bids":[["1","3","0","1"]],"asks":[]}],"action":"update","arg":{"instId":"BTC-USDT","channel":"books"}}"#,
    r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":5,"seqId":5}]}"#,
    r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3"}]}"#,
    r#"{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"#,
    r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#,
    r#"{"event":"error","code":"60012","msg":"Invalid request: ...","connId":"a4d3ae55"}"#,
    r#"{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"]],"bids":[["41006.3","0.30178218","0","2"]],"ts":"1629966436396","seqId":3040}]}"#,
    "pong",
];

const BYTES: &[u8] = b"\"\\,:[]{}-.0123456789e E+ \t\n\xff\x00abnlrtu";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, buf: &mut Vec<u8>) {
    let len = buf.len();
    match rng.below(7) {
        0 if len > 0 => {
            let i = rng.below(len);
            buf[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            buf[i] = BYTES[rng.below(BYTES.len())];
        }
        2 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below(8.min(len - i));
            buf.drain(i..i + n);
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below(16.min(len - i));
            let piece: Vec<u8> = buf[i..i + n].to_vec();
            let at = rng.below(len + 1);
            buf.splice(at..at, piece);
        }
        4 => {
            let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            buf.truncate(cut);
            buf.extend_from_slice(&other[from..]);
        }
        5 => {
            let at = rng.below(len + 1);
            let digits = [
                "99999999999999999999999",
                "-1",
                "0",
                "1e5",
                "0.000000000000000001",
                "4294967296",
                "-2147483648",
            ];
            let d = digits[rng.below(digits.len())].as_bytes();
            buf.splice(at..at, d.iter().copied());
        }
        _ => {
            let at = rng.below(len + 1);
            buf.insert(at, BYTES[rng.below(BYTES.len())]);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Rng(seed | 1);
    let mut buf = Vec::with_capacity(4096);
    let t = Instant::now();
    for i in 0..n {
        buf.clear();
        buf.extend_from_slice(SEEDS[rng.below(SEEDS.len())].as_bytes());
        if i % 16 != 0 {
            for _ in 0..1 + rng.below(8) {
                mutate(&mut rng, &mut buf);
            }
        }
        tickwire_feeds::fuzzing::okx_decode(&buf);
    }
    println!(
        "okx_decode: {n} executions in {:.1} s, no failure",
        t.elapsed().as_secs_f64()
    );
}
