//! Control of a running engine from other threads: the bounded command queue and the
//! [`EngineHandle`] that feeds it.
//!
//! Commands are the control path: they may allocate (a URL, a topic list, a frame to send).
//! The I/O thread drains the queue once per loop turn; a handle wakes it through a
//! `mio::Waker` when the loop blocks in `poll`. A full queue is reported to the caller, never
//! waited on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_queue::ArrayQueue;

use crate::config::{ConfigError, ConnectionConfig};
use crate::handler::{ConnectionId, WsHandler};
use crate::ring::{self, CapacityError, Consumer, EventProducer};

/// Identifies a consumer ring. Ids are unique within the process (one counter serves every
/// engine), so an id from one engine is refused by another rather than naming one of its
/// rings.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId(pub u32);

/// Next [`ConsumerId`] and [`ConnectionId`] of the process (0 is never issued).
static NEXT_CONSUMER: AtomicU32 = AtomicU32::new(1);
static NEXT_CONNECTION: AtomicU32 = AtomicU32::new(1);

fn next_id(counter: &AtomicU32) -> Option<u32> {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
        .ok()
}

/// A new process-unique consumer id, or `None` once the 32-bit space is spent.
pub(crate) fn next_consumer_id() -> Option<ConsumerId> {
    next_id(&NEXT_CONSUMER).map(ConsumerId)
}

/// Why a command was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command queue is full; retry later or raise `command_capacity`.
    #[error("command queue full")]
    QueueFull,
    /// The engine has shut down.
    #[error("engine stopped")]
    Stopped,
    /// The connection configuration is invalid.
    #[error("invalid connection config: {0}")]
    Config(#[from] ConfigError),
    /// Too many consumers (an engine holds at most 65,535 rings; ids are 32-bit).
    #[error("too many consumers")]
    TooManyConsumers,
    /// The process has issued every 32-bit connection id.
    #[error("too many connections")]
    TooManyConnections,
    /// A ring capacity over [`ring::MAX_CAPACITY`].
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The connection is not one of this engine's (never added here, or removed).
    #[error("unknown connection {0:?}")]
    UnknownConnection(ConnectionId),
    /// The consumer is not one of this engine's (never added here, or removed).
    #[error("unknown consumer {0:?}")]
    UnknownConsumer(ConsumerId),
    /// The consumer's ring cannot take the handler's deepest snapshot run whole (see
    /// [`WsHandler::min_ring_capacity`]): its books could never be rebuilt.
    #[error("consumer {consumer:?}: ring of {capacity} events, the handler needs {needed}")]
    RingTooSmall {
        /// The consumer.
        consumer: ConsumerId,
        /// Its ring's capacity.
        capacity: usize,
        /// What the handler needs.
        needed: usize,
    },
}

/// A frame for [`EngineHandle::send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutFrame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Everything the TLS layer needs for one connection, prepared on the caller's thread so the
/// I/O thread does not parse certificates.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) config: ConnectionConfig,
    pub(crate) tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// The further lines of [`ConnectionConfig::lines`], line 1 first (each with no lines).
    pub(crate) lines: Vec<Prepared>,
}

impl Prepared {
    /// TLS settings for `config` and each of its lines.
    pub(crate) fn new(config: ConnectionConfig) -> Result<Prepared, CommandError> {
        let mut lines = Vec::with_capacity(config.lines.len());
        for url in &config.lines {
            let mut line = config.clone();
            line.lines = Vec::new();
            line.endpoint = crate::config::Endpoint::parse(url)?;
            line.url = url.clone();
            lines.push(Prepared::new(line)?);
        }
        let tls = if config.endpoint.tls {
            Some((
                crate::transport::client_config(&config.extra_roots)?,
                crate::transport::server_name(&config.endpoint.host)?,
            ))
        } else {
            None
        };
        Ok(Prepared { config, tls, lines })
    }
}

/// One control request to the I/O thread.
pub(crate) enum Command {
    Add {
        id: ConnectionId,
        prepared: Box<Prepared>,
        handler: Box<dyn WsHandler>,
        consumers: Vec<ConsumerId>,
    },
    AddConsumer {
        id: ConsumerId,
        producer: EventProducer,
    },
    RemoveConsumer(ConsumerId),
    Remove(ConnectionId),
    Subscribe(ConnectionId, Vec<String>),
    Unsubscribe(ConnectionId, Vec<String>),
    Send(ConnectionId, OutFrame),
    Close(ConnectionId, u16),
    Route(ConnectionId, Vec<ConsumerId>),
}

/// State shared by every handle and the I/O thread.
pub(crate) struct Shared {
    pub(crate) queue: ArrayQueue<Command>,
    pub(crate) waker: Arc<mio::Waker>,
    /// Whether the loop may be blocked in `poll` (Blocking idle strategy); spinning loops need
    /// no wake-up syscall.
    pub(crate) blocking: bool,
    /// The live ids, checked by handles before a command is queued (the I/O thread never
    /// takes this lock).
    pub(crate) ids: Mutex<Ids>,
    /// Set by [`EngineHandle::shutdown`]; read by the loop every turn. A flag rather than a
    /// command, so shutdown works even with a full queue.
    pub(crate) shutdown: AtomicBool,
    /// Set by the I/O thread when it has stopped; commands fail from then on.
    pub(crate) stopped: AtomicBool,
}

/// The ids a handle accepts: connections added and not removed (with the ring capacity
/// their handler needs), consumers added and not removed (with their ring's capacity).
#[derive(Debug, Default)]
pub(crate) struct Ids {
    pub(crate) connections: HashMap<ConnectionId, usize>,
    pub(crate) consumers: HashMap<ConsumerId, usize>,
    /// Rings the engine holds (builder's and added), removed or not: at most 65,535.
    pub(crate) rings: usize,
}

impl Ids {
    /// Every consumer known, each ring at least `needed` events.
    fn check_consumers(&self, consumers: &[ConsumerId], needed: usize) -> Result<(), CommandError> {
        for &c in consumers {
            let capacity = *self
                .consumers
                .get(&c)
                .ok_or(CommandError::UnknownConsumer(c))?;
            if capacity < needed {
                return Err(CommandError::RingTooSmall {
                    consumer: c,
                    capacity,
                    needed,
                });
            }
        }
        Ok(())
    }

    fn check_connection(&self, conn: ConnectionId) -> Result<usize, CommandError> {
        self.connections
            .get(&conn)
            .copied()
            .ok_or(CommandError::UnknownConnection(conn))
    }
}

/// Controls a running engine from any thread. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) shared: Arc<Shared>,
}

impl EngineHandle {
    /// The id registry, once the engine is known to run (a poisoned lock is taken as is:
    /// the maps stay consistent, every update being a single insert or remove).
    fn ids(&self) -> Result<MutexGuard<'_, Ids>, CommandError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(CommandError::Stopped);
        }
        Ok(self.shared.ids.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Queues a command for a known connection.
    fn push_for(&self, conn: ConnectionId, cmd: Command) -> Result<(), CommandError> {
        let ids = self.ids()?;
        ids.check_connection(conn)?;
        self.push(cmd)?;
        drop(ids);
        Ok(())
    }

    fn push(&self, cmd: Command) -> Result<(), CommandError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Err(CommandError::Stopped);
        }
        self.shared
            .queue
            .push(cmd)
            .map_err(|_| CommandError::QueueFull)?;
        if self.shared.blocking {
            // A failed wake leaves the command queued; the next timer or event picks it up.
            let _ = self.shared.waker.wake();
        }
        Ok(())
    }

    /// Adds a connection that runs `handler` and publishes to `consumers`. It starts
    /// connecting at once and reconnects by its configuration's backoff. Fails for a consumer
    /// this engine does not hold ([`CommandError::UnknownConsumer`]) or whose ring is smaller
    /// than [`WsHandler::min_ring_capacity`] ([`CommandError::RingTooSmall`]).
    pub fn add_connection(
        &self,
        config: ConnectionConfig,
        handler: Box<dyn WsHandler>,
        consumers: &[ConsumerId],
    ) -> Result<ConnectionId, CommandError> {
        let prepared = Prepared::new(config)?;
        let needed = handler.min_ring_capacity();
        let mut ids = self.ids()?;
        ids.check_consumers(consumers, needed)?;
        let id = next_id(&NEXT_CONNECTION)
            .map(ConnectionId)
            .ok_or(CommandError::TooManyConnections)?;
        self.push(Command::Add {
            id,
            prepared: Box::new(prepared),
            handler,
            consumers: consumers.to_vec(),
        })?;
        ids.connections.insert(id, needed);
        Ok(id)
    }

    /// Creates a new consumer ring of `capacity` events (at most [`ring::MAX_CAPACITY`]) on
    /// the running engine. Route connections to it with [`EngineHandle::route`] or name it
    /// in `add_connection`.
    pub fn add_consumer(&self, capacity: usize) -> Result<(ConsumerId, Consumer), CommandError> {
        let mut ids = self.ids()?;
        if ids.rings >= usize::from(u16::MAX) {
            return Err(CommandError::TooManyConsumers);
        }
        let (producer, consumer) = ring::try_channel(capacity)?;
        let capacity = producer.capacity();
        let id = next_consumer_id().ok_or(CommandError::TooManyConsumers)?;
        self.push(Command::AddConsumer { id, producer })?;
        ids.consumers.insert(id, capacity);
        ids.rings += 1;
        Ok((id, consumer))
    }

    /// Adds an inline consumer to the running engine: `consumer` is called on the I/O thread
    /// with the events of every connection routed to the returned id (see
    /// [`crate::inline`]). Route connections to it as to a ring consumer.
    pub fn add_inline_consumer(
        &self,
        consumer: impl crate::inline::InlineConsumer,
    ) -> Result<(ConsumerId, crate::inline::InlineHandle), CommandError> {
        let mut ids = self.ids()?;
        if ids.rings >= usize::from(u16::MAX) {
            return Err(CommandError::TooManyConsumers);
        }
        let (producer, handle) = ring::inline(consumer);
        let capacity = producer.capacity();
        let id = next_consumer_id().ok_or(CommandError::TooManyConsumers)?;
        self.push(Command::AddConsumer { id, producer })?;
        ids.consumers.insert(id, capacity);
        ids.rings += 1;
        Ok((id, handle))
    }

    /// Removes a consumer: no connection publishes to it any more and its ring is released
    /// (its `Consumer` drains what was delivered, then sees `is_abandoned`). Dropping a
    /// `Consumer` without this is noticed too, once its ring fills
    /// (`EngineStats::abandoned_consumers`).
    pub fn remove_consumer(&self, consumer: ConsumerId) -> Result<(), CommandError> {
        let mut ids = self.ids()?;
        ids.check_consumers(&[consumer], 0)?;
        self.push(Command::RemoveConsumer(consumer))?;
        ids.consumers.remove(&consumer);
        Ok(())
    }

    /// Closes a connection gracefully and forgets it.
    pub fn remove(&self, conn: ConnectionId) -> Result<(), CommandError> {
        let mut ids = self.ids()?;
        ids.check_connection(conn)?;
        self.push(Command::Remove(conn))?;
        ids.connections.remove(&conn);
        Ok(())
    }

    /// Asks the connection's handler to subscribe to `topics` (see
    /// [`WsHandler::on_subscribe`]).
    pub fn subscribe(&self, conn: ConnectionId, topics: Vec<String>) -> Result<(), CommandError> {
        self.push_for(conn, Command::Subscribe(conn, topics))
    }

    /// Asks the connection's handler to unsubscribe from `topics`.
    pub fn unsubscribe(&self, conn: ConnectionId, topics: Vec<String>) -> Result<(), CommandError> {
        self.push_for(conn, Command::Unsubscribe(conn, topics))
    }

    /// Sends a frame on a live connection (the seeds' `send_frame`). A connection that is not
    /// live drops it and counts it in `EngineStats::sends_rejected`.
    pub fn send(&self, conn: ConnectionId, frame: OutFrame) -> Result<(), CommandError> {
        self.push_for(conn, Command::Send(conn, frame))
    }

    /// Sends a text frame.
    pub fn send_text(&self, conn: ConnectionId, text: &str) -> Result<(), CommandError> {
        self.send(conn, OutFrame::Text(text.to_owned()))
    }

    /// Closes a connection for good with close `code` (it is not reconnected).
    pub fn close(&self, conn: ConnectionId, code: u16) -> Result<(), CommandError> {
        self.push_for(conn, Command::Close(conn, code))
    }

    /// Re-routes a connection's events to `consumers` (replacing its current set). The same
    /// checks as `add_connection` apply to `consumers`.
    pub fn route(&self, conn: ConnectionId, consumers: &[ConsumerId]) -> Result<(), CommandError> {
        let ids = self.ids()?;
        let needed = ids.check_connection(conn)?;
        ids.check_consumers(consumers, needed)?;
        self.push(Command::Route(conn, consumers.to_vec()))?;
        drop(ids);
        Ok(())
    }

    /// Asks the engine to close every connection (close handshake, bounded wait) and stop.
    /// `Engine::join` waits for it. Never fails; repeated calls are harmless.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
    }

    /// Whether the I/O thread has stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }
}
