//! WebSocket framing (RFC 6455) on byte slices, and the client handshake.
//!
//! Protocol code never touches sockets: the decoder works on the connection's receive buffer
//! and lends one frame at a time; the encoder appends to an outbound buffer.
//!
//! PLACEHOLDER: the decoder, UTF-8 validation and handshake are being written (see issue 2).

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

/// Appends one frame to `out`. Client frames pass `Some(mask)`; server frames `None`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    op: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.push(if fin { 0x80 } else { 0 } | op as u8);
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        out.push(mbit | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(mbit | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(mbit | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            let start = out.len();
            out.extend_from_slice(payload);
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= m[i & 3];
            }
        }
        None => out.extend_from_slice(payload),
    }
}
