//! Shared inputs for tickwire's criterion benchmarks.

pub mod binance_messages;
