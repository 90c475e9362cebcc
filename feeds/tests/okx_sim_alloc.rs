//! The OKX simulator's send path and the OKX decoder allocate nothing once their buffers
//! have grown; and every message the simulator sends decodes, its `books` updates chained
//! by `prevSeqId` except where a gap was injected (a reset continues the chain).
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_engine::Registry;
use tickwire_engine::adapter::Frame;
use tickwire_feeds::binance::Symbols;
use tickwire_feeds::okx::Decoder;
use tickwire_feeds::sim::{FeedRequest, SimFault, SimVenueConfig, venue};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn okx_sim_rendering_and_decoding_allocate_nothing_and_chain() {
    let config = SimVenueConfig {
        symbols: vec!["BTC-USDT".into(), "ETH-USDT".into()],
        ..SimVenueConfig::default()
    };
    let sim = venue("okx", &config).unwrap();
    let req = FeedRequest {
        path: "/ws/v5/public",
        query: "",
        probe: false,
    };
    let mut feed = sim.new_feed(&req, 0).unwrap();
    let mut reply = Vec::new();
    let mut sub = br#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"ETH-USDT"},{"channel":"books","instId":"ETH-USDT"}]}"#.to_vec();
    feed.handle_control(&mut sub, &mut reply);
    assert!(String::from_utf8_lossy(&reply).contains(r#""event":"subscribe""#));
    let registry = Registry::new();
    let mut symbols = Symbols::new("okx");
    let btc = symbols.add(&registry, "BTC-USDT");
    let eth = symbols.add(&registry, "ETH-USDT");
    let mut dec = Decoder::new(symbols);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut events = Vec::with_capacity(4096);
    // seqId each book last sent (None: no snapshot yet).
    let mut last = [None::<u64>; 2];
    let (mut acks, mut snapshots, mut chained, mut broken, mut market) = (0, 0, 0, 0, 0);
    let mut gaps_armed = 0;
    let mut count = |feed: &mut Box<dyn tickwire_feeds::sim::SimFeed>, i: u64, counting: bool| {
        out.clear();
        events.clear();
        if counting && i % 997 == 0 {
            feed.inject(SimFault::Gap);
            gaps_armed += 1;
        }
        if counting && i % 1499 == 0 {
            feed.inject(SimFault::Reset);
        }
        assert!(feed.next_message(u64::MAX, 1_723_161_255_308_000_000 + i, &mut out));
        match dec.decode(&out, 1, &mut events).unwrap() {
            Frame::Ack { .. } => acks += 1,
            Frame::BookSnapshot {
                instrument, ids, ..
            } => {
                snapshots += 1;
                last[usize::from(instrument == eth)] = Some(ids.last);
            }
            Frame::BookDiff {
                instrument, ids, ..
            } => {
                assert!(instrument == btc || instrument == eth);
                let slot = &mut last[usize::from(instrument == eth)];
                if ids.prev == *slot {
                    chained += 1;
                } else {
                    broken += 1;
                }
                *slot = Some(ids.last);
            }
            Frame::Market => market += 1,
            f => panic!("unexpected {f:?}"),
        }
    };
    // Warm-up: the queued acks and snapshots, buffers grown.
    for i in 0..2_000 {
        count(&mut feed, i, false);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 2_000..22_000 {
        count(&mut feed, i, true);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(allocs, 0);
    assert_eq!(
        acks, 3,
        "the first ack is the reply; the other three come as messages"
    );
    assert_eq!(snapshots, 2);
    assert_eq!(
        broken, gaps_armed,
        "one broken chain per gap, none for resets"
    );
    assert!(chained > 5_000 && market > 5_000, "{chained} {market}");
}
