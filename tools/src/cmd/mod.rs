//! The `tickwire` commands, a module each (`tickwire sim` runs the library's simulator,
//! `tickwire_tools::sim`).

pub mod autobahn;
pub mod bench;
pub mod decode;
pub mod demo;
pub mod record;
pub mod replay;
pub mod run;
#[cfg(feature = "nats")]
pub mod subscribe;
