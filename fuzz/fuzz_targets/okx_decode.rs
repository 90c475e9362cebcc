#![no_main]
//! OKX frame decoding: nothing panics, rejected frames leave no events, decoding is
//! deterministic (body shared with the unit tests: `tickwire_feeds::fuzzing::okx_decode`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tickwire_feeds::fuzzing::okx_decode(data);
});
