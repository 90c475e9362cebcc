//! # tickwire-bus
//!
//! Scale-out for tickwire over NATS JetStream: the [`egress`] thread publishes the events of
//! one engine consumer ring to a stream, batched per instrument subject in a compact,
//! versioned encoding ([`codec`]); a [`remote`] consumer on any host reads them back into
//! the same [`tickwire_engine::Event`]s, in order, without duplicates, and rebuilds books.
//!
//! A crate of its own so that the NATS client and its tokio runtime stay out of
//! `tickwire-engine` and `tickwire-feeds`: the engine's I/O thread never sees the bus, and
//! the bus code is only compiled by those who ask for it (`tickwire-tools` has it behind
//! its default `nats` feature).
//!
//! Subjects: [`subject`].

pub mod codec;
pub mod egress;
pub mod remote;
pub mod subject;

pub use egress::{Egress, EgressConfig, EgressError, EgressStats};
pub use remote::{Delivery, From, Remote, RemoteConfig, RemoteError, RemoteStats};
