//! Why a connection went down or a frame was rejected, as stable numeric codes.
//!
//! Reasons travel inside [`crate::event::Status`] events (as `u16`) and telemetry, so they are
//! a plain `Copy` enum: no strings are built on the failure path.

/// A disconnect, recycle or rejection reason.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No reason (e.g. informational status).
    None = 0,
    /// The peer closed the WebSocket with a close frame.
    PeerClosed = 1,
    /// The TCP stream ended or failed.
    Io = 2,
    /// No pong within the pong timeout.
    PongTimeout = 3,
    /// No data within the stale limit.
    Stale = 4,
    /// A WebSocket protocol violation by the peer (close 1002).
    Protocol = 5,
    /// A frame or message over the configured maximum (close 1009).
    TooBig = 6,
    /// Invalid UTF-8 in a text message (close 1007).
    InvalidUtf8 = 7,
    /// The engine is shutting down, or the user closed the connection.
    Shutdown = 8,
    /// The venue announced a shutdown (Binance `serverShutdown`).
    ServerShutdown = 9,
    /// Planned lifetime rotation (make-before-break).
    Rotation = 10,
    /// TLS failure (certificate, handshake, alert).
    Tls = 11,
    /// The HTTP upgrade was refused or malformed.
    Handshake = 12,
    /// Name resolution failed.
    Resolve = 13,
    /// TCP connect failed or timed out.
    Connect = 14,
    /// The adapter asked for a recycle (e.g. unrecoverable decode state).
    Adapter = 15,
    /// Malformed JSON or a message shape the adapter could not read.
    Json = 16,
    /// A number that does not fit the exact decimal representation.
    Number = 17,
    /// A field the adapter needs is missing or has the wrong type.
    Schema = 18,
    /// A symbol that was not subscribed.
    UnknownSymbol = 19,
    /// The send queue of a connection is full.
    Backpressure = 20,
    /// A subscription request went unanswered past the adapter's ack timeout.
    AckTimeout = 21,
    /// A REST snapshot was answered with an HTTP error status (the status event's `value`).
    HttpStatus = 22,
    /// The venue rate-limited a REST request (HTTP 429, or 503 with `Retry-After`); requests
    /// pause for the `Retry-After` (ms in the status event's `value`).
    RateLimited = 23,
    /// The venue banned this IP (Binance HTTP 418); requests pause for the `Retry-After`
    /// (ms in the status event's `value`).
    Banned = 24,
    /// A REST snapshot could not be read (not JSON, wrong shape, bad numbers).
    Malformed = 25,
    /// A snapshot was older than every buffered diff (no diff lines up with it).
    SnapshotTooOld = 26,
    /// A book waited longer than its configured bound for a snapshot that lines up with the
    /// stream (e.g. every snapshot ahead of the stream, or no answer).
    SyncTimeout = 27,
    /// A book was crossed (best bid at or above best ask).
    Crossed = 28,
    /// A handler callback panicked: its connection is closed for good (its state may be
    /// broken), the others go on.
    HandlerPanic = 29,
    /// The instrument's channel was unsubscribed: its book is no longer kept (with
    /// `Resync`, the consumer's copy is invalid from here).
    Unsubscribed = 30,
    /// The I/O thread stopped on a panic outside any handler: every connection is gone and
    /// the engine takes no more commands.
    EnginePanic = 31,
    /// The server closed (or reset) the connection before it answered the HTTP upgrade.
    UpgradeClosed = 32,
    /// The upgrade was refused with HTTP 429 or 503 (rate limit, overload); the next attempt
    /// waits at least the response's `Retry-After`.
    UpgradeBusy = 33,
    /// The server's certificate has expired.
    CertExpired = 34,
    /// The server's certificate is not valid yet (or the local clock is behind).
    CertNotYetValid = 35,
    /// The server's certificate is not valid for the host name in the URL.
    CertWrongName = 36,
    /// The server's certificate chain does not lead to a trusted root (self-signed, or a
    /// private CA not given as an extra root).
    CertUnknownIssuer = 37,
    /// The server's certificate was rejected for another reason (bad signature or encoding,
    /// a CA used as leaf, revoked, unsupported algorithm).
    CertInvalid = 38,
    /// The TLS handshake did not finish within the connect timeout.
    TlsTimeout = 39,
    /// A TLS record failed (bad record, decryption failure, fatal alert) after the handshake.
    TlsRecord = 40,
    /// The book's checksum did not match the venue's (`checksum` status, then a resync).
    Checksum = 41,
    /// The venue restarted the book's sequence (e.g. Bybit `u == 1`): the book was replaced.
    SequenceReset = 42,
    /// The book is resynced by unsubscribing and subscribing its instrument again.
    Resubscribe = 43,
}

impl Reason {
    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::PeerClosed => "peer_closed",
            Reason::Io => "io",
            Reason::PongTimeout => "pong_timeout",
            Reason::Stale => "stale",
            Reason::Protocol => "protocol",
            Reason::TooBig => "too_big",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::Shutdown => "shutdown",
            Reason::ServerShutdown => "server_shutdown",
            Reason::Rotation => "rotation",
            Reason::Tls => "tls",
            Reason::Handshake => "handshake",
            Reason::Resolve => "resolve",
            Reason::Connect => "connect",
            Reason::Adapter => "adapter",
            Reason::Json => "json",
            Reason::Number => "number",
            Reason::Schema => "schema",
            Reason::UnknownSymbol => "unknown_symbol",
            Reason::Backpressure => "backpressure",
            Reason::AckTimeout => "ack_timeout",
            Reason::HttpStatus => "http_status",
            Reason::RateLimited => "rate_limited",
            Reason::Banned => "banned",
            Reason::Malformed => "malformed",
            Reason::SnapshotTooOld => "snapshot_too_old",
            Reason::SyncTimeout => "sync_timeout",
            Reason::Crossed => "crossed",
            Reason::HandlerPanic => "handler_panic",
            Reason::Unsubscribed => "unsubscribed",
            Reason::EnginePanic => "engine_panic",
            Reason::UpgradeClosed => "upgrade_closed",
            Reason::UpgradeBusy => "upgrade_busy",
            Reason::CertExpired => "cert_expired",
            Reason::CertNotYetValid => "cert_not_yet_valid",
            Reason::CertWrongName => "cert_wrong_name",
            Reason::CertUnknownIssuer => "cert_unknown_issuer",
            Reason::CertInvalid => "cert_invalid",
            Reason::TlsTimeout => "tls_timeout",
            Reason::TlsRecord => "tls_record",
            Reason::Checksum => "checksum",
            Reason::SequenceReset => "sequence_reset",
            Reason::Resubscribe => "resubscribe",
        }
    }

    /// The reason for a stable code, if known.
    pub const fn from_code(code: u16) -> Option<Reason> {
        const ALL: [Reason; 44] = [
            Reason::None,
            Reason::PeerClosed,
            Reason::Io,
            Reason::PongTimeout,
            Reason::Stale,
            Reason::Protocol,
            Reason::TooBig,
            Reason::InvalidUtf8,
            Reason::Shutdown,
            Reason::ServerShutdown,
            Reason::Rotation,
            Reason::Tls,
            Reason::Handshake,
            Reason::Resolve,
            Reason::Connect,
            Reason::Adapter,
            Reason::Json,
            Reason::Number,
            Reason::Schema,
            Reason::UnknownSymbol,
            Reason::Backpressure,
            Reason::AckTimeout,
            Reason::HttpStatus,
            Reason::RateLimited,
            Reason::Banned,
            Reason::Malformed,
            Reason::SnapshotTooOld,
            Reason::SyncTimeout,
            Reason::Crossed,
            Reason::HandlerPanic,
            Reason::Unsubscribed,
            Reason::EnginePanic,
            Reason::UpgradeClosed,
            Reason::UpgradeBusy,
            Reason::CertExpired,
            Reason::CertNotYetValid,
            Reason::CertWrongName,
            Reason::CertUnknownIssuer,
            Reason::CertInvalid,
            Reason::TlsTimeout,
            Reason::TlsRecord,
            Reason::Checksum,
            Reason::SequenceReset,
            Reason::Resubscribe,
        ];
        if (code as usize) < ALL.len() {
            Some(ALL[code as usize])
        } else {
            None
        }
    }

    /// Whether the server's certificate was rejected: retrying will not help until the
    /// server or the trusted roots change.
    pub const fn is_certificate(self) -> bool {
        matches!(
            self,
            Reason::CertExpired
                | Reason::CertNotYetValid
                | Reason::CertWrongName
                | Reason::CertUnknownIssuer
                | Reason::CertInvalid
        )
    }

    /// The code carried in status events.
    pub const fn code(self) -> u16 {
        self as u16
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;
    use crate::stats::REASON_SLOTS;

    #[test]
    fn every_code_has_a_counter_slot_and_round_trips() {
        let mut known = 0;
        for code in 0..=u16::MAX {
            if let Some(r) = Reason::from_code(code) {
                known += 1;
                assert_eq!(r.code(), code);
                assert!(
                    (code as usize) < REASON_SLOTS,
                    "{} has no counter slot",
                    r.name()
                );
            }
        }
        // Codes are dense from 0: a gap would mean a variant missing from the table.
        assert!(Reason::from_code(known).is_none());
        assert!(Reason::from_code(known - 1).is_some());
    }
}
