#![no_main]
//! Placeholder: written with its parser.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
