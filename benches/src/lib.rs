//! Shared inputs for tickwire's criterion benchmarks.
