//! # tickwire-tools
//!
//! The library side of the `tickwire` binary: the venue simulator server ([`sim`]), used by
//! the demo, `tickwire bench` and the integration tests.

pub mod sim;
