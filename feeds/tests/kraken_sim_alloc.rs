//! The Kraken simulator's send path and the Kraken decoder allocate nothing once their
//! buffers have grown; and every book message the simulator sends, applied to a book bounded
//! at the subscribed depth, gives the checksum it carries, except where a fault was injected
//! (a wrong checksum, or an update not sent: the next checksum then disagrees).
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tickwire_engine::Registry;
use tickwire_engine::adapter::Frame;
use tickwire_engine::book::{Book, BookConfig};
use tickwire_feeds::binance::Symbols;
use tickwire_feeds::kraken::Decoder;
use tickwire_feeds::kraken::checksum::book_checksum;
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
fn kraken_sim_rendering_and_decoding_allocate_nothing_and_checksums_hold() {
    let config = SimVenueConfig {
        symbols: vec!["BTC/USD".into(), "ETH/USD".into()],
        ..SimVenueConfig::default()
    };
    let sim = venue("kraken", &config).unwrap();
    let req = FeedRequest {
        path: "/v2",
        query: "",
        probe: false,
    };
    let mut feed = sim.new_feed(&req, 0).unwrap();
    let mut reply = Vec::new();
    for sub in [
        &br#"{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10},"req_id":1}"#[..],
        br#"{"method":"subscribe","params":{"channel":"book","symbol":["ETH/USD"],"depth":25},"req_id":2}"#,
        br#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"]},"req_id":3}"#,
        br#"{"method":"subscribe","params":{"channel":"ticker","symbol":["ETH/USD"]},"req_id":4}"#,
    ] {
        reply.clear();
        feed.handle_control(&mut sub.to_vec(), &mut reply);
        assert!(
            String::from_utf8_lossy(&reply).contains(r#""success":true"#),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    let registry = Registry::new();
    let mut symbols = Symbols::new("kraken");
    let btc = symbols.add(&registry, "BTC/USD");
    let eth = symbols.add(&registry, "ETH/USD");
    let mut dec = Decoder::new(symbols);
    dec.prepare(btc);
    dec.prepare(eth);
    let mut books = [
        Book::new(BookConfig::with_depth(10)),
        Book::new(BookConfig::with_depth(25)),
    ];
    let mut out = Vec::with_capacity(64 * 1024);
    let mut events = Vec::with_capacity(4096);
    let (mut acks, mut snapshots, mut good, mut bad, mut market, mut control) = (0, 0, 0, 0, 0, 0);
    let mut faults = 0;
    let mut synced = [false; 2];
    let mut count = |feed: &mut Box<dyn tickwire_feeds::sim::SimFeed>, i: u64, counting: bool| {
        out.clear();
        events.clear();
        let mut resynced = false;
        // One fault at a time (each fires within a few messages), gap and checksum in turn.
        if counting && i % 500 == 0 {
            feed.inject(if i % 1000 == 0 {
                SimFault::Gap
            } else {
                SimFault::Checksum
            });
            faults += 1;
        }
        assert!(feed.next_message(u64::MAX, 1_723_161_255_308_000_000 + i, &mut out));
        match dec.decode(&out, 1, &mut events).unwrap() {
            Frame::Ack { .. } => acks += 1,
            Frame::Control => control += 1,
            Frame::BookSnapshot {
                instrument,
                checksum,
                ..
            } => {
                snapshots += 1;
                resynced = true;
                let k = usize::from(instrument == eth);
                books[k].clear();
                for e in &events {
                    books[k].apply_event(e).unwrap();
                }
                assert_eq!(Some(book_checksum(&books[k], None)), checksum);
                synced[k] = true;
            }
            Frame::BookDiff {
                instrument,
                checksum,
                ..
            } => {
                let k = usize::from(instrument == eth);
                assert!(synced[k]);
                for e in &events {
                    books[k].apply_event(e).unwrap();
                }
                if Some(book_checksum(&books[k], None)) == checksum {
                    good += 1;
                } else {
                    // The venue's book is the truth: take its checksum's word and go on
                    // from a resynced copy (here: count, and resync on the next snapshot).
                    bad += 1;
                    resynced = true;
                    synced[k] = false;
                    let name = if k == 0 { "BTC/USD" } else { "ETH/USD" };
                    let depth = if k == 0 { 10 } else { 25 };
                    let mut unsub = format!(r#"{{"method":"unsubscribe","params":{{"channel":"book","symbol":["{name}"],"depth":{depth}}}}}"#).into_bytes();
                    let mut sub = format!(r#"{{"method":"subscribe","params":{{"channel":"book","symbol":["{name}"],"depth":{depth}}}}}"#).into_bytes();
                    let mut r = Vec::new();
                    feed.handle_control(&mut unsub, &mut r);
                    feed.handle_control(&mut sub, &mut r);
                }
            }
            Frame::Market => market += 1,
            f => panic!("unexpected {f:?}"),
        }
        resynced
    };
    // Warm-up: status, queued acks and snapshots, buffers grown.
    for i in 0..2_000 {
        let _ = count(&mut feed, i, false);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for i in 2_000..22_000 {
        // Resyncs (a resubscribe, then the snapshot: the sim's model replays its tape to
        // that point) allocate off the steady state: not counted.
        let during = ALLOCS.load(Ordering::Relaxed);
        if count(&mut feed, i, true) {
            ALLOCS.fetch_sub(ALLOCS.load(Ordering::Relaxed) - during, Ordering::Relaxed);
        }
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(
        acks, 1,
        "the trade request's second symbol is answered as a message"
    );
    assert!(control >= 1);
    assert!(good > 3_000 && market > 3_000, "{good} {market}");
    assert!(snapshots >= 2);
    // Every injected fault broke exactly one checksum.
    assert_eq!(bad, faults, "{good} good");
    assert_eq!(allocs, 0);
}
