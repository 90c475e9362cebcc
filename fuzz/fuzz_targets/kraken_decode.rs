#![no_main]
//! Kraken v2 frame decoding: nothing panics, errors leave no events and move one counter,
//! book frames carry consistent events (no sequence, one change per level, deletes first),
//! decoding is deterministic (body shared with the unit tests and the in-repo driver:
//! `tickwire_feeds::fuzzing::kraken_decode`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tickwire_feeds::fuzzing::kraken_decode(data);
});
