//! Protocol errors found while decoding peer frames.

use crate::reason::Reason;

/// A violation of RFC 6455 (or of the configured [`super::Limits`]) by the peer. The
/// connection must be failed: send a close frame with [`WsError::close_code`], then drop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// RSV1..3 set although no extension was negotiated (or RSV2/RSV3 with
    /// permessage-deflate, which defines only RSV1).
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// An opcode RFC 6455 reserves (0x3..=0x7, 0xB..=0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A server sent a masked frame (we are the client).
    #[error("masked frame from the server")]
    MaskedFrame,
    /// A client sent an unmasked frame (we are the server).
    #[error("unmasked frame from the client")]
    UnmaskedFrame,
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 payload bytes.
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A continuation frame with no fragmented message in progress.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still in progress.
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set.
    #[error("64-bit payload length with the top bit set")]
    InvalidLength,
    /// A close frame whose payload is one byte (a code needs two).
    #[error("close frame with a one-byte payload")]
    CloseTooShort,
    /// A close code that may not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A text message or close reason that is not valid UTF-8.
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// A frame header declaring a payload over [`super::Limits::max_frame`] (the declared
    /// length).
    #[error("frame payload of {0} bytes exceeds the frame limit")]
    FrameTooBig(u64),
    /// A data message that would grow past [`super::Limits::max_message`] (the size it would
    /// have reached).
    #[error("message of {0} bytes exceeds the message limit")]
    MessageTooBig(u64),
    /// A compressed (permessage-deflate) message that inflates to more than
    /// [`super::Limits::max_message`] bytes (the limit): a decompression bomb is stopped at
    /// the limit, never buffered further.
    #[error("compressed message inflates past the message limit of {0} bytes")]
    InflatedTooBig(u64),
    /// RSV1 (the permessage-deflate "compressed" bit) on a continuation frame: only a
    /// message's first frame may carry it (RFC 7692 section 6.1).
    #[error("RSV1 set on a continuation frame")]
    CompressedContinuation,
    /// RSV1 on a control frame: control frames are never compressed (RFC 7692 section 6.1).
    #[error("RSV1 set on a control frame")]
    CompressedControl,
    /// A compressed message's payload is not valid raw deflate data.
    #[error("compressed message is not valid deflate data")]
    InvalidDeflate,
}

impl WsError {
    /// The close code to fail the connection with: 1002 protocol error, 1007 invalid UTF-8,
    /// 1009 too big.
    pub const fn close_code(&self) -> u16 {
        match self {
            WsError::InvalidUtf8 => 1007,
            WsError::FrameTooBig(_) | WsError::MessageTooBig(_) | WsError::InflatedTooBig(_) => {
                1009
            }
            _ => 1002,
        }
    }

    /// The reason reported in status events and telemetry.
    pub const fn reason(&self) -> Reason {
        match self {
            WsError::InvalidUtf8 => Reason::InvalidUtf8,
            WsError::FrameTooBig(_) | WsError::MessageTooBig(_) | WsError::InflatedTooBig(_) => {
                Reason::TooBig
            }
            _ => Reason::Protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons() {
        assert_eq!(WsError::ReservedBits.close_code(), 1002);
        assert_eq!(WsError::ReservedBits.reason(), Reason::Protocol);
        assert_eq!(WsError::InvalidCloseCode(1005).close_code(), 1002);
        assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
        assert_eq!(WsError::InvalidUtf8.reason(), Reason::InvalidUtf8);
        assert_eq!(WsError::FrameTooBig(1).close_code(), 1009);
        assert_eq!(WsError::MessageTooBig(1).reason(), Reason::TooBig);
        assert_eq!(WsError::InflatedTooBig(1).close_code(), 1009);
        assert_eq!(WsError::InflatedTooBig(1).reason(), Reason::TooBig);
        for e in [
            WsError::CompressedContinuation,
            WsError::CompressedControl,
            WsError::InvalidDeflate,
        ] {
            assert_eq!((e.close_code(), e.reason()), (1002, Reason::Protocol));
        }
    }
}
