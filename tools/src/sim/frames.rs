//! Client-to-server WebSocket frames (always masked, RFC 6455 §5.3), reassembled into
//! messages. Clients send little (control requests, pongs, close), so this reader favours
//! plainness over speed. Server frames are written with `tickwire_engine::ws::encode_frame`.

/// A complete client message.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// A text message (not yet checked for UTF-8).
    Text(Vec<u8>),
    /// A binary message (the simulator ignores its content).
    Binary,
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close with its status code, if any.
    Close(Option<u16>),
}

/// A protocol violation by the client; the server closes with 1002 (1009 for `TooBig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A client frame without a mask.
    Unmasked,
    /// Reserved bits set (no extension was negotiated).
    Reserved,
    /// An unknown opcode.
    Opcode,
    /// A control frame over 125 bytes or fragmented.
    Control,
    /// A continuation with nothing to continue, or a new message inside a fragmented one.
    Sequence,
    /// A message over the size limit.
    TooBig,
}

/// Reassembles masked client frames.
#[derive(Debug)]
pub struct FrameReader {
    max_message: usize,
    partial: Vec<u8>,
    partial_text: Option<bool>,
}

impl FrameReader {
    /// A reader refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        FrameReader {
            max_message,
            partial: Vec::new(),
            partial_text: None,
        }
    }

    /// Takes the next complete message from the front of `buf`; `Ok(None)` when more bytes
    /// are needed.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Msg>, FrameError> {
        loop {
            let Some((fin, op, range)) = self.frame(buf)? else {
                return Ok(None);
            };
            let payload = buf[range.clone()].to_vec();
            buf.drain(..range.end);
            match op {
                0x8 => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ok(Some(Msg::Close(code)));
                }
                0x9 => return Ok(Some(Msg::Ping(payload))),
                0xA => return Ok(Some(Msg::Pong(payload))),
                0x1 | 0x2 => {
                    if self.partial_text.is_some() {
                        return Err(FrameError::Sequence);
                    }
                    if fin {
                        return Ok(Some(if op == 1 {
                            Msg::Text(payload)
                        } else {
                            Msg::Binary
                        }));
                    }
                    self.partial_text = Some(op == 1);
                    self.partial = payload;
                }
                _ => {
                    let Some(text) = self.partial_text else {
                        return Err(FrameError::Sequence);
                    };
                    if self.partial.len() + payload.len() > self.max_message {
                        return Err(FrameError::TooBig);
                    }
                    self.partial.extend_from_slice(&payload);
                    if fin {
                        self.partial_text = None;
                        let whole = std::mem::take(&mut self.partial);
                        return Ok(Some(if text { Msg::Text(whole) } else { Msg::Binary }));
                    }
                }
            }
        }
    }

    /// Parses and unmasks one frame in place: `(fin, opcode, payload range)`.
    fn frame(
        &self,
        buf: &mut [u8],
    ) -> Result<Option<(bool, u8, std::ops::Range<usize>)>, FrameError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let (fin, op) = (b0 & 0x80 != 0, b0 & 0x0F);
        if b0 & 0x70 != 0 {
            return Err(FrameError::Reserved);
        }
        if !matches!(op, 0x0..=0x2 | 0x8..=0xA) {
            return Err(FrameError::Opcode);
        }
        if b1 & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let (len, mut at) = match b1 & 0x7F {
            126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        if op >= 0x8 && (len > 125 || !fin) {
            return Err(FrameError::Control);
        }
        if len > self.max_message as u64 {
            return Err(FrameError::TooBig);
        }
        let len = len as usize;
        if buf.len() < at + 4 + len {
            return Ok(None);
        }
        let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        for (i, b) in buf[at..at + len].iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        Ok(Some((fin, op, at..at + len)))
    }
}

#[cfg(test)]
mod tests {
    use tickwire_engine::ws::{OpCode, encode_frame};

    use super::*;

    #[test]
    fn reads_masked_fragmented_and_control_frames() {
        let mut buf = Vec::new();
        let m = Some([1, 2, 3, 4]);
        encode_frame(&mut buf, OpCode::Text, false, b"{\"a\"", m);
        encode_frame(&mut buf, OpCode::Ping, true, b"hi", m);
        encode_frame(&mut buf, OpCode::Continuation, true, b":1}", m);
        encode_frame(&mut buf, OpCode::Close, true, &1000u16.to_be_bytes(), m);
        let mut r = FrameReader::new(1024);
        let split = buf.split_off(5);
        let mut rest = split;
        assert_eq!(r.next(&mut buf), Ok(None));
        buf.append(&mut rest);
        assert_eq!(r.next(&mut buf), Ok(Some(Msg::Ping(b"hi".to_vec()))));
        assert_eq!(r.next(&mut buf), Ok(Some(Msg::Text(b"{\"a\":1}".to_vec()))));
        assert_eq!(r.next(&mut buf), Ok(Some(Msg::Close(Some(1000)))));
        assert!(buf.is_empty());
        let mut bad = Vec::new();
        encode_frame(&mut bad, OpCode::Text, true, b"x", None);
        assert_eq!(r.next(&mut bad), Err(FrameError::Unmasked));
        let mut big = Vec::new();
        encode_frame(&mut big, OpCode::Text, true, &[b'x'; 2000], m);
        assert_eq!(r.next(&mut big), Err(FrameError::TooBig));
    }
}
