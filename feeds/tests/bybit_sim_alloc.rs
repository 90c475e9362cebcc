//! The Bybit simulator's steady-state render path (deltas, level-1 and ticker pushes,
//! trades, gaps) allocates nothing once its buffer has grown. Snapshots after a subscribe
//! and a reset's whole book are rendered off that path (they build the book) and are not
//! counted here.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

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
fn bybit_rendering_allocates_nothing_in_steady_state() {
    for (name, path, topics) in [
        (
            "bybit",
            "/v5/public/spot",
            r#"["orderbook.50.BTCUSDT","publicTrade.BTCUSDT","orderbook.1.ETHUSDT"]"#,
        ),
        (
            "bybit-linear",
            "/v5/public/linear",
            r#"["orderbook.200.BTCUSDT","publicTrade.BTCUSDT","tickers.ETHUSDT"]"#,
        ),
    ] {
        let config = SimVenueConfig {
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            ..SimVenueConfig::default()
        };
        let v = venue(name, &config).unwrap();
        let req = FeedRequest {
            path,
            query: "",
            probe: false,
        };
        let mut feed = v.new_feed(&req, 0).unwrap();
        let mut sub = format!(r#"{{"req_id":"1","op":"subscribe","args":{topics}}}"#).into_bytes();
        let mut reply = Vec::new();
        feed.handle_control(&mut sub, &mut reply);
        let mut out = Vec::with_capacity(256 * 1024);
        // The snapshots the subscribe queued, then warm-up.
        for i in 0..2_000u64 {
            out.clear();
            assert!(feed.next_message(u64::MAX, 1_723_161_255_308_000_000 + i, &mut out));
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for i in 0..20_000u64 {
            out.clear();
            if i % 1000 == 0 {
                feed.inject(SimFault::Gap);
            }
            assert!(feed.next_message(u64::MAX, 1_723_161_255_308_000_000 + i, &mut out));
        }
        assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0, "{name}");
        assert_eq!(feed.faults_made().gaps, 20, "{name}");
    }
}
