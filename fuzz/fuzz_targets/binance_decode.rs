#![no_main]
//! Binance frame decoding: the hand scanner agrees with the simd-json path on every input,
//! nothing panics (body shared with the unit tests: `tickwire_feeds::fuzzing::binance_decode`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tickwire_feeds::fuzzing::binance_decode(data);
});
