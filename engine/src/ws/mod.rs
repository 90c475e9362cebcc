//! WebSocket framing (RFC 6455) on byte slices, and the client handshake.
//!
//! Protocol code never touches sockets: the [`Decoder`] works on the connection's receive
//! buffer and lends one [`Frame`] at a time; the encoder appends to an outbound buffer; the
//! [`ClientHandshake`] turns received bytes into an [`UpgradeResponse`] and hands back any
//! frame bytes that followed the HTTP header block.
//!
//! - `decoder`: frame parsing, fragment reassembly, limits ([`Decoder`], [`Frame`]).
//! - `encoder`: [`encode_frame`], [`encode_close`].
//! - `mask`: RFC 6455 masking, eight bytes at a time.
//! - `utf8`: incremental UTF-8 validation across fragments (fails on the first bad fragment).
//! - `close`: close-frame payload rules.
//! - `deflate`: permessage-deflate (RFC 7692): the offer, the answer's check, the inflater.
//! - `error`: [`WsError`], each with its close code and [`crate::reason::Reason`].
//! - `handshake`: the HTTP upgrade, driven through tungstenite.

mod close;
mod decoder;
mod deflate;
mod encoder;
mod error;
mod handshake;
mod mask;
mod utf8;

pub use close::is_valid_close_code;
pub use decoder::{Decoded, Decoder, Frame, MAX_HEADER_LEN};
pub use deflate::{DeflateOffer, DeflateParams, ExtensionError, negotiate};
pub use encoder::{encode_close, encode_frame};
pub use error::WsError;
pub use handshake::{
    ClientHandshake, HandshakeError, HandshakeRequest, MAX_RESPONSE_HEADER, UpgradeResponse,
};
pub use mask::apply_mask;

/// WebSocket opcodes.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// Continuation frame.
    Continuation = 0x0,
    /// Text frame.
    Text = 0x1,
    /// Binary frame.
    Binary = 0x2,
    /// Close frame.
    Close = 0x8,
    /// Ping frame.
    Ping = 0x9,
    /// Pong frame.
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for a frame's low nibble, or `None` for a reserved one.
    pub const fn from_u8(b: u8) -> Option<OpCode> {
        Some(match b {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong are control frames.
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Which end of the connection this decoder serves; decides the masking rule for peer frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We are the client: the server's frames must be unmasked (a masked one is a protocol
    /// error).
    Client,
    /// We are the server: the client's frames must be masked; they are unmasked in place.
    Server,
}

/// Size limits enforced by the [`Decoder`]; exceeding either is [`WsError::FrameTooBig`] or
/// [`WsError::MessageTooBig`] (close code 1009).
///
/// Engine connections do not use [`Limits::default`]: they build their limits from
/// [`crate::config::ConnectionOptions::max_frame`] and `max_message`, which default to
/// 16 MiB each (4 MiB each in the lightweight profile). The default here serves a
/// [`Decoder`] used on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload one frame may declare. Checked from the header, before the payload
    /// arrives, so a receive buffer never needs more than `max_frame + MAX_HEADER_LEN` bytes.
    pub max_frame: usize,
    /// Largest reassembled data message; the reassembly buffer never grows past it.
    pub max_message: usize,
}

impl Default for Limits {
    /// 16 MiB frames, 64 MiB messages (a standalone [`Decoder`]; engine connections take
    /// theirs from `ConnectionOptions`, 16 MiB messages by default).
    fn default() -> Limits {
        Limits {
            max_frame: 16 << 20,
            max_message: 64 << 20,
        }
    }
}
