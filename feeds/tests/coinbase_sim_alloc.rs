//! The Coinbase simulator's steady-state render path (updates, trades, tickers, heartbeats,
//! gaps) allocates nothing once its buffer has grown. Snapshots after a subscribe are
//! rendered off that path (they build the book) and are not counted here.
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
fn coinbase_rendering_allocates_nothing_in_steady_state() {
    let config = SimVenueConfig {
        symbols: vec!["BTC-USD".into(), "SOL-USD".into()],
        ..SimVenueConfig::default()
    };
    let v = venue("coinbase", &config).unwrap();
    let req = FeedRequest {
        path: "/",
        query: "",
        probe: false,
    };
    let mut feed = v.new_feed(&req, 0).unwrap();
    let mut reply = Vec::new();
    for sub in [
        r#"{"type":"subscribe","channel":"heartbeats"}"#,
        r#"{"type":"subscribe","product_ids":["BTC-USD","SOL-USD"],"channel":"level2"}"#,
        r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"market_trades"}"#,
        r#"{"type":"subscribe","product_ids":["SOL-USD"],"channel":"ticker"}"#,
    ] {
        let mut s = sub.as_bytes().to_vec();
        feed.handle_control(&mut s, &mut reply);
    }
    let mut out = Vec::with_capacity(256 * 1024);
    let t0 = 1_723_161_255_308_000_000u64;
    // The snapshots the subscribes queued, then warm-up.
    for i in 0..2_000u64 {
        out.clear();
        assert!(feed.next_message(u64::MAX, t0 + i * 1_000_000, &mut out));
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut heartbeats = 0;
    for i in 2_000..22_000u64 {
        out.clear();
        if i % 1000 == 0 {
            feed.inject(SimFault::Gap);
        }
        // A millisecond apart: a heartbeat every thousand messages.
        assert!(feed.next_message(u64::MAX, t0 + i * 1_000_000, &mut out));
        heartbeats += usize::from(out.starts_with(br#"{"channel":"heartbeats""#));
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0);
    assert_eq!(feed.faults_made().gaps, 20);
    assert_eq!(heartbeats, 20);
}
