//! OKX `books` (20 levels) against Binance `depth10` (20 levels), per decode, on a loaded
//! machine: the two decodes interleaved in rounds (which goes first alternates), each
//! round timing 2,000 decodes of each; the fastest round of each is kept (the least
//! disturbed), and the median of the rounds' ratios. Both through their adapters, copying
//! the message into a scratch buffer first, as `okx_decode` does.
//!
//! `cargo bench -p tickwire-benches --bench okx_ratio [-- ROUNDS]` (default 300; on a shared
//! machine `chrt -f 10` on the built binary shields it further).

use std::hint::black_box;
use std::time::Instant;

use tickwire_benches::binance_messages::depth10;
use tickwire_benches::binance_messages::okx::books10;
use tickwire_engine::{Event, FeedAdapter, Registry};
use tickwire_feeds::binance::{BinanceAdapter, BinanceConfig, DepthSpeed};
use tickwire_feeds::okx::{Channel, OkxAdapter, OkxConfig, Subscription};

const PER_ROUND: u32 = 2_000;

/// ns per decode of `msg` by `adapter`, over one round.
fn round<A: FeedAdapter>(
    adapter: &mut A,
    msg: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<Event>,
) -> f64 {
    let t = Instant::now();
    for _ in 0..PER_ROUND {
        scratch.clear();
        scratch.extend_from_slice(black_box(msg));
        out.clear();
        let f = adapter.decode(scratch, 1, out);
        black_box((f.is_ok(), out.len()));
    }
    t.elapsed().as_nanos() as f64 / f64::from(PER_ROUND)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let registry = Registry::new();
    let subs = Subscription::product(&["BTC-USDT"], &[Channel::Books]);
    let mut okx = OkxAdapter::new(OkxConfig::default(), &subs, &registry).unwrap();
    let bsubs = tickwire_feeds::binance::Subscription::product(
        &["BTCUSDT"],
        &[tickwire_feeds::binance::Channel::Depth(DepthSpeed::Ms100)],
    );
    let mut binance = BinanceAdapter::new(BinanceConfig::spot(), &bsubs, &registry).unwrap();
    let (depth, books) = (depth10(), books10());
    let mut out: Vec<Event> = Vec::with_capacity(64);
    let mut scratch: Vec<u8> = Vec::with_capacity(4096);
    for (name, events) in [("binance", 20), ("okx", 20)] {
        scratch.clear();
        out.clear();
        let r = if name == "okx" {
            scratch.extend_from_slice(&books);
            okx.decode(&mut scratch, 1, &mut out)
        } else {
            scratch.extend_from_slice(&depth);
            binance.decode(&mut scratch, 1, &mut out)
        };
        assert!(r.is_ok() && out.len() == events, "{name}");
    }
    let (mut best_b, mut best_o) = (f64::MAX, f64::MAX);
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let (b, o) = if r % 2 == 0 {
            let b = round(&mut binance, &depth, &mut scratch, &mut out);
            (b, round(&mut okx, &books, &mut scratch, &mut out))
        } else {
            let o = round(&mut okx, &books, &mut scratch, &mut out);
            (round(&mut binance, &depth, &mut scratch, &mut out), o)
        };
        best_b = best_b.min(b);
        best_o = best_o.min(o);
        ratios.push(o / b);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "binance depth10 {best_b:.1} ns, okx books10 {best_o:.1} ns (fastest of {rounds} rounds \
         of {PER_ROUND}): ratio {:.3}; median round ratio {:.3}",
        best_o / best_b,
        ratios[rounds / 2]
    );
}
