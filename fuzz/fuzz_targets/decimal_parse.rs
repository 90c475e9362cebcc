#![no_main]
//! Decimal parsing: fast and general paths agree; parsed values render and parse back
//! exactly (body shared with the unit tests: `tickwire_feeds::fuzzing::decimal_parse`).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tickwire_feeds::fuzzing::decimal_parse(data);
});
