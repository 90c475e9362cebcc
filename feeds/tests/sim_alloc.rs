//! The simulator's render path allocates nothing once its buffer has grown: a session
//! renders every message into one reused `Vec<u8>`.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_feeds::binance::sim::{
    Feed, FeedOptions, Market, Route, TimeUnit, Venue, VenueConfig,
};

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
fn rendering_allocates_nothing_in_steady_state() {
    for market in [Market::Spot, Market::UsdM] {
        let mut config = VenueConfig::new(market);
        config.symbols = vec!["btcusdt".into(), "ethusdt".into()];
        let venue = Venue::new(&config).unwrap();
        for (combined, probe) in [(true, true), (false, false)] {
            let opts = FeedOptions {
                route: Route::Any,
                combined,
                probe,
                time_unit: TimeUnit::Millisecond,
            };
            let mut feed = Feed::new(venue.clone(), opts, 0);
            feed.subscribe_names(&[
                "btcusdt@depth@100ms",
                "btcusdt@trade",
                "btcusdt@aggTrade",
                "ethusdt@bookTicker",
                "ethusdt@depth",
            ])
            .unwrap();
            let mut out = Vec::with_capacity(64 * 1024);
            let before = ALLOCS.load(Ordering::Relaxed);
            let mut n = 0;
            for i in 0..20_000u64 {
                out.clear();
                if i % 1000 == 0 {
                    feed.inject_gap();
                }
                if feed.next_message(u64::MAX, 1_723_161_255_308_000_000 + i, &mut out) {
                    n += 1;
                }
            }
            assert_eq!(n, 20_000);
            assert_eq!(ALLOCS.load(Ordering::Relaxed) - before, 0);
        }
    }
}
