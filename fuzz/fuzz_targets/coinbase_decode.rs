#![no_main]
//! Coinbase Advanced Trade frame decoding: nothing panics, errors leave no events and no
//! sequence number, book and market frames carry consistent events, and reversing every
//! object's key order changes nothing (body shared with the unit tests and the in-repo
//! driver: `tickwire_feeds::fuzzing::coinbase_decode`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tickwire_feeds::fuzzing::coinbase_decode(data);
});
