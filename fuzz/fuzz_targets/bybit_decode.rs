#![no_main]
//! Bybit frame decoding: nothing panics, errors leave no events, book and market frames
//! carry consistent events, and reversing every object's key order changes nothing (body
//! shared with the unit tests and the in-repo driver: `tickwire_feeds::fuzzing::bybit_decode`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tickwire_feeds::fuzzing::bybit_decode(data);
});
