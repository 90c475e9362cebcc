//! Control of a running engine from other threads: the bounded command queue and the
//! [`EngineHandle`] that feeds it.
//!
//! Commands are the control path: they may allocate (a URL, a topic list, a frame to send).
//! The I/O thread drains the queue once per loop turn; a handle wakes it through a
//! `mio::Waker` when the loop blocks in `poll`. A full queue is reported to the caller, never
//! waited on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::config::{ConfigError, ConnectionConfig};
use crate::handler::{ConnectionId, WsHandler};
use crate::ring::{self, Consumer, EventProducer};

/// Identifies a consumer ring within one engine.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerId(pub u16);

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
    /// Too many consumers (ids are 16-bit).
    #[error("too many consumers")]
    TooManyConsumers,
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
pub(crate) struct Prepared {
    pub(crate) config: ConnectionConfig,
    pub(crate) tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
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
    pub(crate) next_connection: AtomicU32,
    pub(crate) next_consumer: AtomicU32,
    /// Set by [`EngineHandle::shutdown`]; read by the loop every turn. A flag rather than a
    /// command, so shutdown works even with a full queue.
    pub(crate) shutdown: AtomicBool,
    /// Set by the I/O thread when it has stopped; commands fail from then on.
    pub(crate) stopped: AtomicBool,
}

/// Controls a running engine from any thread. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) shared: Arc<Shared>,
}

impl EngineHandle {
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
    /// connecting at once and reconnects by its configuration's backoff.
    pub fn add_connection(
        &self,
        config: ConnectionConfig,
        handler: Box<dyn WsHandler>,
        consumers: &[ConsumerId],
    ) -> Result<ConnectionId, CommandError> {
        let tls = if config.endpoint.tls {
            Some((
                crate::transport::client_config(&config.extra_roots)?,
                crate::transport::server_name(&config.endpoint.host)?,
            ))
        } else {
            None
        };
        let id = ConnectionId(self.shared.next_connection.fetch_add(1, Ordering::Relaxed));
        self.push(Command::Add {
            id,
            prepared: Box::new(Prepared { config, tls }),
            handler,
            consumers: consumers.to_vec(),
        })?;
        Ok(id)
    }

    /// Creates a new consumer ring of `capacity` events on the running engine. Route
    /// connections to it with [`EngineHandle::route`] or name it in `add_connection`.
    pub fn add_consumer(&self, capacity: usize) -> Result<(ConsumerId, Consumer), CommandError> {
        let n = self.shared.next_consumer.fetch_add(1, Ordering::Relaxed);
        let id = ConsumerId(u16::try_from(n).map_err(|_| CommandError::TooManyConsumers)?);
        let (producer, consumer) = ring::channel(capacity);
        self.push(Command::AddConsumer { id, producer })?;
        Ok((id, consumer))
    }

    /// Closes a connection gracefully and forgets it.
    pub fn remove(&self, conn: ConnectionId) -> Result<(), CommandError> {
        self.push(Command::Remove(conn))
    }

    /// Asks the connection's handler to subscribe to `topics` (see
    /// [`WsHandler::on_subscribe`]).
    pub fn subscribe(&self, conn: ConnectionId, topics: Vec<String>) -> Result<(), CommandError> {
        self.push(Command::Subscribe(conn, topics))
    }

    /// Asks the connection's handler to unsubscribe from `topics`.
    pub fn unsubscribe(&self, conn: ConnectionId, topics: Vec<String>) -> Result<(), CommandError> {
        self.push(Command::Unsubscribe(conn, topics))
    }

    /// Sends a frame on a live connection (the seeds' `send_frame`). A connection that is not
    /// live drops it and counts it in `EngineStats::sends_rejected`.
    pub fn send(&self, conn: ConnectionId, frame: OutFrame) -> Result<(), CommandError> {
        self.push(Command::Send(conn, frame))
    }

    /// Sends a text frame.
    pub fn send_text(&self, conn: ConnectionId, text: &str) -> Result<(), CommandError> {
        self.send(conn, OutFrame::Text(text.to_owned()))
    }

    /// Closes a connection for good with close `code` (it is not reconnected).
    pub fn close(&self, conn: ConnectionId, code: u16) -> Result<(), CommandError> {
        self.push(Command::Close(conn, code))
    }

    /// Re-routes a connection's events to `consumers` (replacing its current set).
    pub fn route(&self, conn: ConnectionId, consumers: &[ConsumerId]) -> Result<(), CommandError> {
        self.push(Command::Route(conn, consumers.to_vec()))
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
