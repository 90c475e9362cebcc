//! Frame decoding: one frame per call from the front of the connection's receive buffer.
//!
//! Unfragmented data frames are lent as slices of the receive buffer (zero copy; a masked
//! payload is unmasked in place). Fragmented messages are reassembled into the decoder's own
//! buffer, which is reused and never grows past [`Limits::max_message`]. Every RFC 6455 check
//! is made as early as the bytes allow: header rules on the first two bytes, limits from the
//! declared length before the payload arrives, and UTF-8 on each piece of a text payload as
//! it arrives (so a bad fragment fails before the message ends).

use super::close::parse_close;
use super::deflate::{DeflateParams, Inflater};
use super::utf8::Utf8Validator;
use super::{Limits, OpCode, Role, WsError, apply_mask};

/// Longest frame header: two bytes, a 64-bit extended length and a masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// One decoded frame, borrowed from the receive buffer or the decoder's reassembly buffer.
///
/// Data payloads are `&mut` so the venue parser can work in place (simd-json).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete text message, valid UTF-8.
    Text(&'a mut [u8]),
    /// A complete binary message.
    Binary(&'a mut [u8]),
    /// A ping; answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: `code` is `None` for an empty payload; `reason` is valid UTF-8.
    Close {
        /// The peer's close code (already checked to be one allowed on the wire).
        code: Option<u16>,
        /// The peer's reason text.
        reason: &'a [u8],
    },
}

/// What one [`Decoder::decode`] call did.
///
/// - `consumed == 0 && frame.is_none()`: the frame at the front is incomplete; keep the bytes
///   and call again once more have arrived (the buffer must hold at least `need` bytes).
/// - `consumed > 0 && frame.is_none()`: a non-final fragment (or nothing to report) was
///   absorbed; drop `consumed` bytes and call again.
/// - `frame.is_some()`: a complete message or control frame; drop `consumed` bytes once done
///   with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes at the front of the buffer that belonged to the decoded frame.
    pub consumed: usize,
    /// The frame, when one is complete.
    pub frame: Option<Frame<'a>>,
    /// When nothing was consumed: the total bytes (header and payload) the frame at the front
    /// needs, or the bytes needed to read its header when that is still incomplete. Never more
    /// than `max_frame + MAX_HEADER_LEN`, so the caller may grow its receive buffer to it.
    /// Zero when something was consumed.
    pub need: usize,
}

impl Decoded<'_> {
    fn incomplete(need: usize) -> Self {
        Decoded {
            consumed: 0,
            frame: None,
            need,
        }
    }

    /// True when more bytes are needed before anything can be consumed.
    pub fn is_incomplete(&self) -> bool {
        self.consumed == 0
    }
}

/// The kind of a fragmented data message in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataKind {
    Text,
    Binary,
    /// A permessage-deflate message (RSV1 on its first frame), inflated as it arrives.
    CompressedText,
    CompressedBinary,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
struct Header {
    fin: bool,
    op: OpCode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
    /// RSV1 on the first frame of a message, with permessage-deflate negotiated.
    compressed: bool,
}

/// Incremental RFC 6455 frame decoder for one connection.
///
/// After any error the connection must be failed; call [`Decoder::reset`] before reusing
/// the decoder for a new connection.
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    limits: Limits,
    /// The fragmented data message in progress, if any.
    message: Option<DataKind>,
    /// Reassembly buffer for fragmented messages (reused).
    assembled: Vec<u8>,
    /// UTF-8 state of the text message in progress.
    utf8: Utf8Validator,
    /// Payload bytes of the (incomplete) text frame at the front of the caller's buffer that
    /// were already unmasked and validated by an earlier call.
    front_done: usize,
    /// permessage-deflate, when negotiated for this session (`deflate_on`); kept across
    /// sessions for its memory.
    inflater: Option<Inflater>,
    deflate_on: bool,
}

impl Decoder {
    /// A decoder for frames sent by the peer of `role`, enforcing `limits`.
    pub fn new(role: Role, limits: Limits) -> Decoder {
        Decoder {
            role,
            limits,
            message: None,
            assembled: Vec::new(),
            utf8: Utf8Validator::default(),
            front_done: 0,
            inflater: None,
            deflate_on: false,
        }
    }

    /// Forgets all per-connection state (keeps the reassembly and inflate buffers' memory,
    /// and whether permessage-deflate is on).
    pub fn reset(&mut self) {
        self.message = None;
        self.assembled.clear();
        self.utf8.reset();
        self.front_done = 0;
        if let Some(inf) = self.inflater.as_mut() {
            inf.reset();
        }
    }

    /// Turns permessage-deflate on with the negotiated `params` (RSV1 then marks a
    /// compressed message, inflated into a buffer this decoder owns, bounded by
    /// `max_message`), or off with `None` (RSV1 is a protocol error again). Call once per
    /// session, after the upgrade; the inflater's memory is kept for the next session.
    pub fn set_deflate(&mut self, params: Option<DeflateParams>) {
        self.deflate_on = params.is_some();
        if let Some(p) = params {
            let limit = self.limits.max_message;
            match self.inflater.as_mut() {
                Some(inf) => inf.configure(p, limit),
                None => self.inflater = Some(Inflater::new(p, limit)),
            }
        }
    }

    /// Whether permessage-deflate is on.
    pub fn deflate(&self) -> bool {
        self.deflate_on
    }

    /// The role this decoder was made for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True while a fragmented data message is being reassembled.
    pub fn message_in_progress(&self) -> bool {
        self.message.is_some()
    }

    /// Decodes at most one frame from the front of `buf`, the connection's receive buffer.
    ///
    /// The caller keeps unconsumed bytes at the front of the buffer and only appends to them
    /// between calls: the decoder may already have unmasked and validated part of an
    /// incomplete frame's payload and does not repeat that work.
    pub fn decode<'a>(&'a mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        let h = match self.header(buf)? {
            Ok(h) => h,
            Err(need) => return Ok(Decoded::incomplete(need)),
        };
        let Some(total) = h.header_len.checked_add(h.payload_len) else {
            return Err(WsError::FrameTooBig(h.payload_len as u64));
        };
        // Compressed text is checked once inflated, not as it arrives.
        let text = (h.op == OpCode::Text && !h.compressed)
            || (h.op == OpCode::Continuation && self.message == Some(DataKind::Text));
        if buf.len() < total {
            if text {
                self.advance_partial(&mut buf[h.header_len..], h)?;
            }
            return Ok(Decoded::incomplete(total));
        }

        let payload = &mut buf[h.header_len..total];
        // Only ever non-zero for a text frame whose payload arrived over several calls.
        let done = std::mem::take(&mut self.front_done).min(payload.len());
        if let Some(key) = h.mask {
            apply_mask(&mut payload[done..], key, done);
        }
        if h.compressed {
            let frame = self.inflate_first(h, payload)?;
            return Ok(Decoded {
                consumed: total,
                frame,
                need: 0,
            });
        }
        let frame = match h.op {
            OpCode::Ping => Some(Frame::Ping(payload)),
            OpCode::Pong => Some(Frame::Pong(payload)),
            OpCode::Close => {
                let (code, reason) = parse_close(payload)?;
                Some(Frame::Close { code, reason })
            }
            OpCode::Text if h.fin => {
                if done == 0 {
                    if !super::utf8::valid_text(payload) {
                        return Err(WsError::InvalidUtf8);
                    }
                } else {
                    self.utf8.feed(&payload[done..])?;
                    self.utf8.finish()?;
                }
                Some(Frame::Text(payload))
            }
            OpCode::Binary if h.fin => Some(Frame::Binary(payload)),
            OpCode::Text | OpCode::Binary => {
                let kind = if h.op == OpCode::Text {
                    if done == 0 {
                        self.utf8.reset();
                    }
                    self.utf8.feed(&payload[done..])?;
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                self.message = Some(kind);
                self.assembled.clear();
                self.append(payload);
                None
            }
            OpCode::Continuation => {
                let Some(kind) = self.message else {
                    return Err(WsError::UnexpectedContinuation);
                };
                if matches!(kind, DataKind::CompressedText | DataKind::CompressedBinary) {
                    return self.inflate_continuation(h, kind, total, payload);
                }
                if kind == DataKind::Text {
                    self.utf8.feed(&payload[done..])?;
                    if h.fin {
                        self.utf8.finish()?;
                    }
                }
                self.append(payload);
                if h.fin {
                    self.message = None;
                    let message = &mut self.assembled[..];
                    Some(match kind {
                        DataKind::Text | DataKind::CompressedText => Frame::Text(message),
                        DataKind::Binary | DataKind::CompressedBinary => Frame::Binary(message),
                    })
                } else {
                    None
                }
            }
        };
        Ok(Decoded {
            consumed: total,
            frame,
            need: 0,
        })
    }

    /// Parses and checks the header at the front of `buf`: `Ok(Err(n))` when fewer than `n`
    /// bytes are there to read it. Each rule is checked as soon as its byte is present.
    fn header(&self, buf: &[u8]) -> Result<Result<Header, usize>, WsError> {
        let Some(&b0) = buf.first() else {
            return Ok(Err(2));
        };
        // One test for the plain path; RSV1 with permessage-deflate is sorted out apart.
        let compressed = b0 & 0x70 != 0 && self.rsv1(b0)?;
        let Some(op) = OpCode::from_u8(b0 & 0x0F) else {
            return Err(WsError::ReservedOpcode(b0 & 0x0F));
        };
        let fin = b0 & 0x80 != 0;
        if op.is_control() {
            if !fin {
                return Err(WsError::FragmentedControl);
            }
        } else {
            match (op, self.message) {
                (OpCode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(WsError::ExpectedContinuation);
                }
                _ => {}
            }
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(Err(2));
        };
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Client, true) => return Err(WsError::MaskedFrame),
            (Role::Server, false) => return Err(WsError::UnmaskedFrame),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if op.is_control() && len7 > 125 {
            return Err(WsError::ControlTooLong);
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        // The length is checked as soon as its bytes are here, before the masking key.
        if buf.len() < 2 + ext {
            return Ok(Err(header_len));
        }
        let declared = match ext {
            0 => u64::from(len7),
            2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            _ => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&buf[2..10]);
                u64::from_be_bytes(be)
            }
        };
        if declared >> 63 != 0 {
            return Err(WsError::InvalidLength);
        }
        if declared > self.limits.max_frame as u64 {
            return Err(WsError::FrameTooBig(declared));
        }
        if !op.is_control() {
            // A compressed message is inflated as it arrives, not reassembled: its output is
            // bounded by the inflater.
            let so_far = if op == OpCode::Continuation
                && matches!(self.message, Some(DataKind::Text | DataKind::Binary))
            {
                self.assembled.len() as u64
            } else {
                0
            };
            let size = so_far + declared;
            if size > self.limits.max_message as u64 {
                return Err(WsError::MessageTooBig(size));
            }
        }
        let mask = if masked {
            let Some(k) = buf.get(header_len - 4..header_len) else {
                return Ok(Err(header_len));
            };
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(Ok(Header {
            fin,
            op,
            mask,
            header_len,
            // Fits: declared <= max_frame, a usize.
            payload_len: declared as usize,
            compressed,
        }))
    }

    /// Reserved bits are set in `b0`: true for RSV1 on a message's first frame with
    /// permessage-deflate on, else the protocol error (RFC 7692 section 6.1).
    #[cold]
    fn rsv1(&self, b0: u8) -> Result<bool, WsError> {
        if b0 & 0x70 != 0x40 || !self.deflate_on {
            return Err(WsError::ReservedBits);
        }
        match b0 & 0x0F {
            0x0 => Err(WsError::CompressedContinuation),
            0x8..=0xA => Err(WsError::CompressedControl),
            // Text, binary; a reserved opcode fails on the opcode check that follows.
            _ => Ok(true),
        }
    }

    /// The first frame of a compressed message: inflate it; yield the message if it is
    /// the only frame.
    #[cold]
    fn inflate_first<'a>(
        &'a mut self,
        h: Header,
        payload: &[u8],
    ) -> Result<Option<Frame<'a>>, WsError> {
        let Some(inf) = self.inflater.as_mut() else {
            return Err(WsError::ReservedBits);
        };
        inf.begin();
        inf.feed(payload)?;
        let text = h.op == OpCode::Text;
        if !h.fin {
            self.message = Some(if text {
                DataKind::CompressedText
            } else {
                DataKind::CompressedBinary
            });
            return Ok(None);
        }
        finish_inflated(inf, text).map(Some)
    }

    /// A continuation frame of a compressed message.
    #[cold]
    fn inflate_continuation<'a>(
        &'a mut self,
        h: Header,
        kind: DataKind,
        total: usize,
        payload: &[u8],
    ) -> Result<Decoded<'a>, WsError> {
        let Some(inf) = self.inflater.as_mut() else {
            return Err(WsError::ReservedBits);
        };
        inf.feed(payload)?;
        let frame = if h.fin {
            self.message = None;
            Some(finish_inflated(inf, kind == DataKind::CompressedText)?)
        } else {
            None
        };
        Ok(Decoded {
            consumed: total,
            frame,
            need: 0,
        })
    }

    /// Unmasks and validates the newly arrived part of an incomplete text frame's payload,
    /// so invalid UTF-8 fails before the rest of the frame arrives.
    fn advance_partial(&mut self, arrived: &mut [u8], h: Header) -> Result<(), WsError> {
        let done = self.front_done;
        let Some(new) = arrived.get_mut(done..).filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        if let Some(key) = h.mask {
            apply_mask(new, key, done);
        }
        if h.op == OpCode::Text && done == 0 {
            self.utf8.reset();
        }
        self.utf8.feed(new)?;
        self.front_done = done + new.len();
        Ok(())
    }

    /// Appends a fragment, growing the reassembly buffer no further than `max_message`.
    /// (Compressed messages are inflated as they arrive and never reassembled here.)
    fn append(&mut self, data: &[u8]) {
        let len = self.assembled.len() + data.len();
        if len > self.assembled.capacity() {
            let target = (self.assembled.capacity() * 2)
                .min(self.limits.max_message)
                .max(len);
            self.assembled.reserve_exact(target - self.assembled.len());
        }
        self.assembled.extend_from_slice(data);
    }
}

/// Ends an inflated message; a text one must be UTF-8 once inflated.
fn finish_inflated(inf: &mut Inflater, text: bool) -> Result<Frame<'_>, WsError> {
    let message = inf.finish()?;
    if text {
        if !super::utf8::valid_text(message) {
            return Err(WsError::InvalidUtf8);
        }
        Ok(Frame::Text(message))
    } else {
        Ok(Frame::Binary(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{encode_close, encode_frame};
    use proptest::prelude::*;

    /// An owned copy of a [`Frame`], for comparisons.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Owned {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, Vec<u8>),
    }

    fn own(f: Frame<'_>) -> Owned {
        match f {
            Frame::Text(p) => Owned::Text(p.to_vec()),
            Frame::Binary(p) => Owned::Binary(p.to_vec()),
            Frame::Ping(p) => Owned::Ping(p.to_vec()),
            Frame::Pong(p) => Owned::Pong(p.to_vec()),
            Frame::Close { code, reason } => Owned::Close(code, reason.to_vec()),
        }
    }

    const ROLES: [Role; 2] = [Role::Client, Role::Server];
    const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];

    /// The mask the peer of a decoder with `role` uses.
    fn peer_mask(role: Role) -> Option<[u8; 4]> {
        match role {
            Role::Client => None,
            Role::Server => Some(KEY),
        }
    }

    fn frame(role: Role, op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, op, fin, payload, peer_mask(role));
        out
    }

    fn limits() -> Limits {
        Limits {
            max_frame: 1 << 20,
            max_message: 4 << 20,
        }
    }

    /// Delivers `bytes` in pieces cut at `cuts`, the way a connection does: appends each
    /// piece to a receive buffer, decodes until more bytes are needed, and drops consumed
    /// bytes from the front. Returns the frames and the bytes left undecoded.
    fn feed(
        dec: &mut Decoder,
        bytes: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<Owned>, usize), WsError> {
        let mut rbuf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([bytes.len()]) {
            let end = end.clamp(start, bytes.len());
            rbuf.extend_from_slice(&bytes[start..end]);
            start = end;
            loop {
                let have = rbuf.len();
                let d = dec.decode(&mut rbuf)?;
                if d.consumed == 0 {
                    assert!(d.frame.is_none());
                    assert!(d.need > have, "need {} with {have}", d.need);
                    assert!(d.need <= dec.limits().max_frame + MAX_HEADER_LEN);
                    break;
                }
                assert_eq!(d.need, 0);
                let n = d.consumed;
                if let Some(f) = d.frame {
                    out.push(own(f));
                }
                rbuf.drain(..n);
            }
        }
        Ok((out, rbuf.len()))
    }

    fn decode_all(role: Role, bytes: &[u8]) -> Result<Vec<Owned>, WsError> {
        let mut dec = Decoder::new(role, limits());
        let (frames, left) = feed(&mut dec, bytes, &[])?;
        assert_eq!(left, 0);
        Ok(frames)
    }

    #[test]
    fn round_trip_every_kind_both_roles() {
        for role in ROLES {
            let mut bytes = Vec::new();
            bytes.extend(frame(role, OpCode::Text, true, "héllo".as_bytes()));
            bytes.extend(frame(role, OpCode::Binary, true, &[0, 1, 255]));
            bytes.extend(frame(role, OpCode::Ping, true, b"p1"));
            bytes.extend(frame(role, OpCode::Pong, true, b""));
            bytes.extend(frame(role, OpCode::Close, true, b""));
            encode_close(&mut bytes, 1000, b"bye", peer_mask(role));
            encode_close(&mut bytes, 4001, "ünïcode".as_bytes(), peer_mask(role));
            assert_eq!(
                decode_all(role, &bytes),
                Ok(vec![
                    Owned::Text("héllo".into()),
                    Owned::Binary(vec![0, 1, 255]),
                    Owned::Ping(b"p1".to_vec()),
                    Owned::Pong(vec![]),
                    Owned::Close(None, vec![]),
                    Owned::Close(Some(1000), b"bye".to_vec()),
                    Owned::Close(Some(4001), "ünïcode".into()),
                ]),
                "{role:?}"
            );
        }
    }

    #[test]
    fn payload_lengths_across_header_forms() {
        for role in ROLES {
            for n in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
                let text = "a".repeat(n);
                let bin: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
                let mut bytes = frame(role, OpCode::Text, true, text.as_bytes());
                bytes.extend(frame(role, OpCode::Binary, true, &bin));
                let want = vec![Owned::Text(text.into_bytes()), Owned::Binary(bin)];
                assert_eq!(decode_all(role, &bytes).as_ref(), Ok(&want), "{role:?} {n}");
                let mut dec = Decoder::new(role, limits());
                let halves = feed(&mut dec, &bytes, &[bytes.len() / 3, bytes.len() / 2]);
                assert_eq!(halves, Ok((want, 0)), "{role:?} {n} in pieces");
            }
        }
    }

    #[test]
    fn unfragmented_data_is_lent_from_the_receive_buffer() {
        for role in ROLES {
            let mut buf = frame(role, OpCode::Text, true, b"zero copy");
            let header = if role == Role::Client { 2 } else { 6 };
            let base = buf.as_ptr() as usize;
            let mut dec = Decoder::new(role, limits());
            let d = dec.decode(&mut buf).unwrap();
            assert_eq!(d.consumed, header + 9);
            let Some(Frame::Text(p)) = d.frame else {
                panic!("expected text")
            };
            assert_eq!(p, b"zero copy");
            assert_eq!(p.as_ptr() as usize - base, header);
        }
    }

    #[test]
    fn fragmented_messages_with_control_frames_between_fragments() {
        for role in ROLES {
            let mut dec = Decoder::new(role, limits());
            let wörld = "wörld".as_bytes();
            let mut bytes = frame(role, OpCode::Text, false, b"Hel");
            bytes.extend(frame(role, OpCode::Ping, true, b"x"));
            bytes.extend(frame(role, OpCode::Continuation, false, b"lo "));
            bytes.extend(frame(role, OpCode::Continuation, false, &wörld[..2])); // splits ö
            bytes.extend(frame(role, OpCode::Pong, true, b""));
            bytes.extend(frame(role, OpCode::Continuation, false, b""));
            bytes.extend(frame(role, OpCode::Continuation, true, &wörld[2..]));
            bytes.extend(frame(role, OpCode::Binary, false, &[1, 2]));
            bytes.extend(frame(role, OpCode::Ping, true, b"y"));
            bytes.extend(frame(role, OpCode::Continuation, true, &[3]));
            bytes.extend(frame(role, OpCode::Text, true, b"after"));
            let (frames, left) = feed(&mut dec, &bytes, &[]).unwrap();
            assert_eq!(left, 0);
            assert_eq!(
                frames,
                vec![
                    Owned::Ping(b"x".to_vec()),
                    Owned::Pong(vec![]),
                    Owned::Text("Hello wörld".into()),
                    Owned::Ping(b"y".to_vec()),
                    Owned::Binary(vec![1, 2, 3]),
                    Owned::Text(b"after".to_vec()),
                ],
                "{role:?}"
            );
            assert!(!dec.message_in_progress());
        }
    }

    #[test]
    fn non_final_fragment_is_consumed_without_a_frame() {
        let mut dec = Decoder::new(Role::Client, limits());
        let mut buf = frame(Role::Client, OpCode::Binary, false, b"abc");
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!((d.consumed, d.frame, d.need), (5, None, 0));
        assert!(dec.message_in_progress());
    }

    #[test]
    fn every_split_point() {
        for role in ROLES {
            let mut bytes = frame(role, OpCode::Text, true, "naïve".as_bytes());
            bytes.extend(frame(role, OpCode::Text, false, "€".as_bytes()));
            bytes.extend(frame(role, OpCode::Ping, true, b"ping"));
            bytes.extend(frame(role, OpCode::Continuation, true, "😀!".as_bytes()));
            bytes.extend(frame(role, OpCode::Binary, true, &[9u8; 300]));
            encode_close(&mut bytes, 1001, b"going", peer_mask(role));
            let want = decode_all(role, &bytes).unwrap();
            assert_eq!(want.len(), 5);
            for i in 0..=bytes.len() {
                let mut dec = Decoder::new(role, limits());
                assert_eq!(
                    feed(&mut dec, &bytes, &[i]),
                    Ok((want.clone(), 0)),
                    "cut {i}"
                );
            }
            let one_by_one: Vec<usize> = (1..bytes.len()).collect();
            let mut dec = Decoder::new(role, limits());
            assert_eq!(feed(&mut dec, &bytes, &one_by_one), Ok((want, 0)));
        }
    }

    #[test]
    fn need_reports_the_bytes_the_front_frame_requires() {
        for role in ROLES {
            let mask = if role == Role::Server { 4 } else { 0 };
            let mut dec = Decoder::new(role, limits());
            let bytes = frame(role, OpCode::Binary, true, &[5u8; 1000]);
            assert_eq!(dec.decode(&mut []).unwrap().need, 2);
            assert_eq!(dec.decode(&mut bytes[..1].to_vec()).unwrap().need, 2);
            assert_eq!(dec.decode(&mut bytes[..2].to_vec()).unwrap().need, 4 + mask);
            let mut head = bytes[..4 + mask].to_vec();
            let d = dec.decode(&mut head).unwrap();
            assert_eq!((d.consumed, d.need), (0, 1004 + mask));
            let big = frame(role, OpCode::Binary, true, &[5u8; 70000]);
            assert_eq!(dec.decode(&mut big[..2].to_vec()).unwrap().need, 10 + mask);
            assert_eq!(
                dec.decode(&mut big[..10 + mask].to_vec()).unwrap().need,
                70010 + mask
            );
        }
    }

    /// Decodes `bytes` whole and one byte at a time; both must fail with `want`.
    fn assert_fails(role: Role, lim: Limits, bytes: &[u8], want: WsError) {
        let mut dec = Decoder::new(role, lim);
        assert_eq!(
            feed(&mut dec, bytes, &[]),
            Err(want),
            "{role:?} {bytes:02x?}"
        );
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let mut dec = Decoder::new(role, lim);
        assert_eq!(feed(&mut dec, bytes, &cuts), Err(want), "{role:?} bytewise");
    }

    #[test]
    fn header_rule_violations() {
        use WsError::*;
        let lim = limits();
        for role in ROLES {
            let m = |b1: u8| if role == Role::Server { b1 | 0x80 } else { b1 };
            let key: &[u8] = if role == Role::Server { &KEY } else { &[] };
            let with_key = |head: &[u8]| {
                let mut v = head.to_vec();
                v.extend_from_slice(key);
                v
            };
            for rsv in [0x40, 0x20, 0x10] {
                assert_fails(role, lim, &[0x81 | rsv, m(0)], ReservedBits);
            }
            for op in (0x3..=0x7).chain(0xB..=0xF) {
                assert_fails(role, lim, &[0x80 | op, m(0)], ReservedOpcode(op));
            }
            assert_fails(role, lim, &with_key(&[0x09, m(0)]), FragmentedControl);
            assert_fails(role, lim, &with_key(&[0x08, m(0)]), FragmentedControl);
            assert_fails(role, lim, &[0x89, m(126), 0, 126], ControlTooLong);
            assert_fails(role, lim, &[0x8A, m(127)], ControlTooLong);
            assert_fails(role, lim, &with_key(&[0x80, m(0)]), UnexpectedContinuation);
            assert_fails(role, lim, &with_key(&[0x00, m(0)]), UnexpectedContinuation);
            for (first, second) in [(0x01, 0x81), (0x02, 0x82), (0x01, 0x02), (0x02, 0x01)] {
                let mut bytes = with_key(&[first, m(0)]);
                bytes.extend(with_key(&[second, m(0)]));
                assert_fails(role, lim, &bytes, ExpectedContinuation);
            }
            let top_bit = [0x82, m(127), 0x80, 0, 0, 0, 0, 0, 0, 1];
            assert_fails(role, lim, &top_bit, InvalidLength);
        }
        assert_fails(Role::Client, lim, &[0x81, 0x80, 1, 2, 3, 4], MaskedFrame);
        assert_fails(Role::Server, lim, &[0x81, 0x00], UnmaskedFrame);
        for e in [ReservedBits, ReservedOpcode(3), MaskedFrame, InvalidLength] {
            assert_eq!(e.close_code(), 1002);
        }
    }

    #[test]
    fn close_payload_violations() {
        for role in ROLES {
            let close = |payload: &[u8]| frame(role, OpCode::Close, true, payload);
            assert_fails(role, limits(), &close(&[0x03]), WsError::CloseTooShort);
            for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
                let bytes = close(&code.to_be_bytes());
                assert_fails(role, limits(), &bytes, WsError::InvalidCloseCode(code));
            }
            let bad_reason = close(b"\x03\xe8ok\xc3\x28");
            assert_fails(role, limits(), &bad_reason, WsError::InvalidUtf8);
            assert_eq!(WsError::InvalidUtf8.close_code(), 1007);
        }
    }

    #[test]
    fn invalid_utf8_in_an_unfragmented_text_frame() {
        for role in ROLES {
            for bad in [
                &b"\xff"[..],
                b"ab\xc0\xafcd",
                b"\xed\xa0\x80",
                b"ok\xe2\x82",
            ] {
                let bytes = frame(role, OpCode::Text, true, bad);
                assert_fails(role, limits(), &bytes, WsError::InvalidUtf8);
            }
        }
    }

    #[test]
    fn invalid_utf8_fails_on_the_first_bad_fragment() {
        // Autobahn 6.4.1/6.4.2: κόσμε, then 0xF4 (still a valid prefix), then 0x90 (beyond
        // U+10FFFF): the third fragment must fail, before any final fragment arrives.
        let kosme = "κόσμε".as_bytes();
        for role in ROLES {
            let mut dec = Decoder::new(role, limits());
            let mut bytes = frame(role, OpCode::Text, false, kosme);
            bytes.extend(frame(role, OpCode::Continuation, false, b"\xf4"));
            assert_eq!(feed(&mut dec, &bytes, &[]), Ok((vec![], 0)));
            let bad = frame(role, OpCode::Continuation, false, b"\x90\x80\x80edited");
            assert_eq!(feed(&mut dec, &bad, &[]), Err(WsError::InvalidUtf8));

            // An impossible byte in the first fragment fails on that fragment.
            let mut dec = Decoder::new(role, limits());
            let first = frame(role, OpCode::Text, false, b"ok\xff");
            assert_eq!(feed(&mut dec, &first, &[]), Err(WsError::InvalidUtf8));

            // A code point left unfinished by the final fragment fails on it.
            let mut dec = Decoder::new(role, limits());
            let mut bytes = frame(role, OpCode::Text, false, b"ok");
            bytes.extend(frame(role, OpCode::Continuation, true, b"\xe2\x82"));
            assert_eq!(feed(&mut dec, &bytes, &[]), Err(WsError::InvalidUtf8));
        }
    }

    #[test]
    fn invalid_utf8_fails_before_the_rest_of_a_frame_arrives() {
        // Autobahn 6.4.3/6.4.4: one frame whose payload arrives in chunks.
        let kosme = "κόσμε".as_bytes();
        for role in ROLES {
            let mut payload = kosme.to_vec();
            payload.extend_from_slice(b"\xf4\x90\x80\x80edited");
            let bytes = frame(role, OpCode::Text, true, &payload);
            let header = bytes.len() - payload.len();
            let mut dec = Decoder::new(role, limits());
            let mut buf = bytes[..header + kosme.len() + 1].to_vec(); // up to 0xF4
            assert!(dec.decode(&mut buf).unwrap().is_incomplete());
            buf.push(bytes[buf.len()]); // 0x90
            assert_eq!(dec.decode(&mut buf), Err(WsError::InvalidUtf8));

            // The same inside a continuation frame.
            let mut dec = Decoder::new(role, limits());
            let mut bytes = frame(role, OpCode::Text, false, b"start ");
            let first = bytes.len();
            bytes.extend(frame(role, OpCode::Continuation, true, &payload));
            let cut = first + header + kosme.len() + 2;
            assert_eq!(
                feed(&mut dec, &bytes[..cut], &[first + 3]),
                Err(WsError::InvalidUtf8)
            );
        }
    }

    #[test]
    fn partially_arrived_text_is_unmasked_once() {
        for role in ROLES {
            let text = "partial €😀 text that arrives in pieces";
            let bytes = frame(role, OpCode::Text, true, text.as_bytes());
            for step in 1..8 {
                let cuts: Vec<usize> = (1..bytes.len()).step_by(step).collect();
                let mut dec = Decoder::new(role, limits());
                assert_eq!(
                    feed(&mut dec, &bytes, &cuts),
                    Ok((vec![Owned::Text(text.into())], 0)),
                    "{role:?} step {step}"
                );
            }
        }
    }

    #[test]
    fn frame_over_the_limit_fails_from_its_header() {
        let lim = Limits {
            max_frame: 1000,
            max_message: 1500,
        };
        for role in ROLES {
            let m = |b1: u8| if role == Role::Server { b1 | 0x80 } else { b1 };
            // Only the header: no payload has arrived.
            assert_fails(
                role,
                lim,
                &[0x82, m(126), 0x03, 0xE9],
                WsError::FrameTooBig(1001),
            );
            let huge = [0x81, m(127), 0, 0, 1, 0, 0, 0, 0, 0];
            assert_fails(role, lim, &huge, WsError::FrameTooBig(1 << 40));
            assert_eq!(WsError::FrameTooBig(1).close_code(), 1009);

            // At the limit is fine.
            let ok = frame(role, OpCode::Binary, true, &[1u8; 1000]);
            let mut dec = Decoder::new(role, lim);
            assert_eq!(feed(&mut dec, &ok, &[]).unwrap().0.len(), 1);
        }
    }

    #[test]
    fn message_over_the_limit_fails_when_a_fragment_header_arrives() {
        let lim = Limits {
            max_frame: 1000,
            max_message: 1500,
        };
        for role in ROLES {
            let mut bytes = frame(role, OpCode::Text, false, &[b'a'; 800]);
            let second = frame(role, OpCode::Continuation, true, &[b'a'; 800]);
            let header = if role == Role::Server { 8 } else { 4 };
            bytes.extend_from_slice(&second[..header]);
            assert_fails(role, lim, &bytes, WsError::MessageTooBig(1600));

            // Exactly at the limit is fine, and the buffer stays within it.
            let mut bytes = frame(role, OpCode::Binary, false, &[1u8; 1000]);
            bytes.extend(frame(role, OpCode::Continuation, true, &[2u8; 500]));
            let mut dec = Decoder::new(role, lim);
            let (frames, _) = feed(&mut dec, &bytes, &[]).unwrap();
            let Owned::Binary(ref msg) = frames[0] else {
                panic!("expected binary")
            };
            assert_eq!(msg.len(), 1500);
            assert!(dec.assembled.capacity() <= 1500);
        }
    }

    #[test]
    fn reassembly_buffer_is_reused() {
        let mut dec = Decoder::new(Role::Client, limits());
        let mut bytes = Vec::new();
        for _ in 0..10 {
            bytes.extend(frame(Role::Client, OpCode::Binary, false, &[1u8; 3000]));
            bytes.extend(frame(
                Role::Client,
                OpCode::Continuation,
                true,
                &[2u8; 3000],
            ));
        }
        feed(&mut dec, &bytes[..bytes.len() / 10], &[]).unwrap();
        let cap = dec.assembled.capacity();
        let ptr = dec.assembled.as_ptr();
        let (frames, _) = feed(&mut dec, &bytes[bytes.len() / 10..], &[]).unwrap();
        assert_eq!(frames.len(), 9);
        assert_eq!(
            (dec.assembled.capacity(), dec.assembled.as_ptr()),
            (cap, ptr)
        );
    }

    #[test]
    fn reset_forgets_the_message_in_progress() {
        let mut dec = Decoder::new(Role::Client, limits());
        let first = frame(Role::Client, OpCode::Text, false, b"half");
        feed(&mut dec, &first, &[]).unwrap();
        assert!(dec.message_in_progress());
        dec.reset();
        let cont = frame(Role::Client, OpCode::Continuation, true, b"x");
        assert_eq!(
            feed(&mut dec, &cont, &[]),
            Err(WsError::UnexpectedContinuation)
        );
        dec.reset();
        let text = frame(Role::Client, OpCode::Text, true, b"fresh");
        assert_eq!(
            feed(&mut dec, &text, &[]),
            Ok((vec![Owned::Text(b"fresh".to_vec())], 0))
        );
    }

    /// A permessage-deflate sender: one raw-deflate stream (context takeover) or a fresh one
    /// per message, each message sync-flushed with the `00 00 ff ff` tail stripped
    /// (RFC 7692 section 7.2.1), as a server's compressor does.
    struct Deflater {
        z: flate2::Compress,
        takeover: bool,
    }

    impl Deflater {
        fn new(window_bits: u8, takeover: bool) -> Deflater {
            Deflater {
                z: flate2::Compress::new_with_window_bits(
                    flate2::Compression::default(),
                    false,
                    window_bits,
                ),
                takeover,
            }
        }

        fn message(&mut self, data: &[u8]) -> Vec<u8> {
            if !self.takeover {
                self.z.reset();
            }
            let mut out = Vec::with_capacity(data.len() + 64);
            let start = self.z.total_in();
            loop {
                let done = (self.z.total_in() - start) as usize;
                if out.len() == out.capacity() {
                    out.reserve(4096);
                }
                self.z
                    .compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
                    .unwrap();
                if (self.z.total_in() - start) as usize == data.len() && out.len() < out.capacity()
                {
                    break;
                }
            }
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            out
        }
    }

    fn params(server_no_context_takeover: bool) -> DeflateParams {
        DeflateParams {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover,
            client_no_context_takeover: false,
        }
    }

    fn deflate_decoder(lim: Limits, server_no_context_takeover: bool) -> Decoder {
        let mut dec = Decoder::new(Role::Client, lim);
        dec.set_deflate(Some(params(server_no_context_takeover)));
        dec
    }

    /// A server frame with RSV1 set when `rsv1`.
    fn frame_rsv1(op: OpCode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = frame(Role::Client, op, fin, payload);
        if rsv1 {
            out[0] |= 0x40;
        }
        out
    }

    fn depth_like(i: usize) -> Vec<u8> {
        format!(
            "{{\"e\":\"depthUpdate\",\"u\":{},\"b\":[[\"61837.{:02}000000\",\"0.{:08}\"]]}}",
            50_093_239_203u64 + i as u64,
            i % 100,
            i * 7919
        )
        .into_bytes()
    }

    #[test]
    fn compressed_messages_round_trip_with_and_without_context_takeover() {
        for takeover in [true, false] {
            for window in [9u8, 12, 15] {
                let mut z = Deflater::new(window, takeover);
                let mut bytes = Vec::new();
                let mut want = Vec::new();
                for i in 0..50 {
                    let msg = depth_like(i);
                    let op = if i % 2 == 0 {
                        OpCode::Text
                    } else {
                        OpCode::Binary
                    };
                    bytes.extend(frame_rsv1(op, true, true, &z.message(&msg)));
                    // Uncompressed messages may be mixed in (RSV1 is per message).
                    bytes.extend(frame(Role::Client, OpCode::Text, true, b"plain"));
                    bytes.extend(frame(Role::Client, OpCode::Ping, true, b"p"));
                    want.push(if i % 2 == 0 {
                        Owned::Text(msg)
                    } else {
                        Owned::Binary(msg)
                    });
                    want.push(Owned::Text(b"plain".to_vec()));
                    want.push(Owned::Ping(b"p".to_vec()));
                }
                let cuts: Vec<usize> = (0..bytes.len()).step_by(97).collect();
                let mut dec = deflate_decoder(limits(), !takeover);
                assert_eq!(
                    feed(&mut dec, &bytes, &cuts),
                    Ok((want, 0)),
                    "takeover {takeover} window {window}"
                );
            }
        }
    }

    #[test]
    fn context_takeover_data_needs_the_shared_stream() {
        // The second message refers back into the first: inflated with a fresh stream per
        // message (as `server_no_context_takeover` asks) it cannot decode to the original.
        let mut z = Deflater::new(15, true);
        let msg = depth_like(1);
        let mut bytes = frame_rsv1(OpCode::Text, true, true, &z.message(&msg));
        bytes.extend(frame_rsv1(OpCode::Text, true, true, &z.message(&msg)));
        let mut fresh = deflate_decoder(limits(), true);
        let got = feed(&mut fresh, &bytes, &[]);
        assert_ne!(
            got,
            Ok((vec![Owned::Text(msg.clone()), Owned::Text(msg.clone())], 0))
        );
        let mut kept = deflate_decoder(limits(), false);
        assert_eq!(
            feed(&mut kept, &bytes, &[]),
            Ok((vec![Owned::Text(msg.clone()), Owned::Text(msg)], 0))
        );
    }

    #[test]
    fn fragmented_compressed_message() {
        let text: Vec<u8> = (0..40).flat_map(depth_like).collect();
        let mut z = Deflater::new(15, true);
        let c = z.message(&text);
        let third = c.len() / 3;
        let mut bytes = frame_rsv1(OpCode::Text, false, true, &c[..third]);
        bytes.extend(frame(Role::Client, OpCode::Ping, true, b"between"));
        bytes.extend(frame(
            Role::Client,
            OpCode::Continuation,
            false,
            &c[third..2 * third],
        ));
        bytes.extend(frame(
            Role::Client,
            OpCode::Continuation,
            true,
            &c[2 * third..],
        ));
        // Then a second compressed message on the same stream.
        let c2 = z.message(&text);
        bytes.extend(frame_rsv1(OpCode::Binary, false, true, &c2[..1]));
        bytes.extend(frame(Role::Client, OpCode::Continuation, true, &c2[1..]));
        let mut dec = deflate_decoder(limits(), false);
        assert_eq!(
            feed(&mut dec, &bytes, &[5, 50, 51]),
            Ok((
                vec![
                    Owned::Ping(b"between".to_vec()),
                    Owned::Text(text.clone()),
                    Owned::Binary(text)
                ],
                0
            ))
        );
    }

    #[test]
    fn rsv1_rules() {
        use WsError::*;
        let lim = limits();
        // Without negotiation RSV1 is a reserved bit, as before.
        assert_fails(Role::Client, lim, &[0xC1, 0x00], ReservedBits);
        let fails = |bytes: &[u8], want: WsError| {
            let mut dec = deflate_decoder(lim, false);
            assert_eq!(feed(&mut dec, bytes, &[]), Err(want), "{bytes:02x?}");
        };
        // RSV2, RSV3 stay reserved with permessage-deflate.
        fails(&[0xA1, 0x00], ReservedBits);
        fails(&[0x91, 0x00], ReservedBits);
        fails(&[0xE1, 0x00], ReservedBits);
        // Control frames are never compressed.
        for op in [0x89, 0x8A, 0x88] {
            fails(&[op | 0x40, 0x00], CompressedControl);
        }
        // Only the first frame of a message carries RSV1.
        let mut bytes = frame_rsv1(OpCode::Text, false, true, &[0x02]);
        bytes.extend(frame_rsv1(OpCode::Continuation, true, true, &[0x00]));
        fails(&bytes, CompressedContinuation);
        // Garbage that is not deflate data.
        fails(
            &frame_rsv1(OpCode::Binary, true, true, &[0xff; 8]),
            InvalidDeflate,
        );
        // Inflated text is checked for UTF-8.
        let mut z = Deflater::new(15, true);
        fails(
            &frame_rsv1(OpCode::Text, true, true, &z.message(b"ok\xff")),
            InvalidUtf8,
        );
        // Turning deflate off again makes RSV1 an error again.
        let mut dec = deflate_decoder(lim, false);
        dec.set_deflate(None);
        assert_eq!(feed(&mut dec, &[0xC1, 0x00], &[]), Err(ReservedBits));
        assert!(!dec.deflate());
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        let lim = Limits {
            max_frame: 1 << 20,
            max_message: 64 << 10,
        };
        // 16 MiB of zeros compresses to about 16 KiB.
        let bomb = vec![0u8; 16 << 20];
        let mut z = Deflater::new(15, true);
        let c = z.message(&bomb);
        assert!(c.len() < 64 << 10, "{}", c.len());
        let mut dec = deflate_decoder(lim, false);
        let got = feed(&mut dec, &frame_rsv1(OpCode::Binary, true, true, &c), &[]);
        assert_eq!(got, Err(WsError::InflatedTooBig(64 << 10)));
        assert_eq!(WsError::InflatedTooBig(1).close_code(), 1009);
        // The buffer never held more than the limit and one byte.
        let cap = dec.inflater.as_ref().map(|i| i.capacity()).unwrap_or(0);
        assert!(cap <= (64 << 10) + 1, "{cap}");

        // Fragmented, the bomb fails on the fragment that crosses the limit.
        let mut dec = deflate_decoder(lim, false);
        let mut z = Deflater::new(15, true);
        let c = z.message(&bomb);
        let mut bytes = frame_rsv1(OpCode::Text, false, true, &c[..c.len() / 2]);
        bytes.extend(frame(
            Role::Client,
            OpCode::Continuation,
            true,
            &c[c.len() / 2..],
        ));
        assert_eq!(
            feed(&mut dec, &bytes, &[]),
            Err(WsError::InflatedTooBig(64 << 10))
        );

        // Exactly at the limit is fine.
        let mut dec = deflate_decoder(lim, false);
        let mut z = Deflater::new(15, true);
        let exact = vec![b'a'; 64 << 10];
        let bytes = frame_rsv1(OpCode::Text, true, true, &z.message(&exact));
        assert_eq!(
            feed(&mut dec, &bytes, &[]),
            Ok((vec![Owned::Text(exact)], 0))
        );
    }

    #[test]
    fn inflate_buffer_is_reused() {
        let mut z = Deflater::new(15, true);
        let mut dec = deflate_decoder(limits(), false);
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let part = if i < 20 { &mut first } else { &mut rest };
            part.extend(frame_rsv1(
                OpCode::Text,
                true,
                true,
                &z.message(&depth_like(i)),
            ));
        }
        assert_eq!(feed(&mut dec, &first, &[]).map(|r| r.0.len()), Ok(20));
        let cap = dec.inflater.as_ref().map(|i| i.capacity());
        assert_eq!(feed(&mut dec, &rest, &[]).map(|r| r.0.len()), Ok(180));
        assert_eq!(dec.inflater.as_ref().map(|i| i.capacity()), cap);
    }

    /// One generated item of a message stream.
    #[derive(Clone, Debug)]
    enum Item {
        /// A data message, cut into fragments at `cuts`, with control frames sent after the
        /// fragment of the given index.
        Data {
            text: bool,
            bytes: Vec<u8>,
            cuts: Vec<usize>,
            controls: Vec<(usize, bool, Vec<u8>)>,
        },
        /// A lone ping (`true`) or pong.
        Control(bool, Vec<u8>),
    }

    fn control() -> impl Strategy<Value = (bool, Vec<u8>)> {
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..=125))
    }

    fn item() -> impl Strategy<Value = Item> {
        let cuts = || prop::collection::vec(0usize..400, 0..5);
        let controls = || {
            prop::collection::vec(
                (0usize..6, control()).prop_map(|(at, (p, b))| (at, p, b)),
                0..3,
            )
        };
        prop_oneof![
            (".{0,60}", cuts(), controls()).prop_map(|(s, cuts, controls)| Item::Data {
                text: true,
                bytes: s.into_bytes(),
                cuts,
                controls
            }),
            (
                prop::collection::vec(any::<u8>(), 0..400),
                cuts(),
                controls()
            )
                .prop_map(|(bytes, cuts, controls)| Item::Data {
                    text: false,
                    bytes,
                    cuts,
                    controls
                }),
            control().prop_map(|(p, b)| Item::Control(p, b)),
        ]
    }

    /// Encodes the items as the peer of `role` would, and the frames a decoder must yield.
    fn encode_items(role: Role, key: [u8; 4], items: &[Item]) -> (Vec<u8>, Vec<Owned>) {
        let mask = (role == Role::Server).then_some(key);
        let mut bytes = Vec::new();
        let mut want = Vec::new();
        let ctl = |bytes: &mut Vec<u8>, ping: bool, p: &[u8]| {
            let op = if ping { OpCode::Ping } else { OpCode::Pong };
            encode_frame(bytes, op, true, p, mask);
            if ping {
                Owned::Ping(p.to_vec())
            } else {
                Owned::Pong(p.to_vec())
            }
        };
        for item in items {
            match item {
                Item::Control(ping, p) => want.push(ctl(&mut bytes, *ping, p)),
                Item::Data {
                    text,
                    bytes: msg,
                    cuts,
                    controls,
                } => {
                    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(msg.len())).collect();
                    cuts.sort_unstable();
                    cuts.push(msg.len());
                    let mut start = 0;
                    for (i, &end) in cuts.iter().enumerate() {
                        let op = match (i, text) {
                            (0, true) => OpCode::Text,
                            (0, false) => OpCode::Binary,
                            _ => OpCode::Continuation,
                        };
                        let fin = i + 1 == cuts.len();
                        encode_frame(&mut bytes, op, fin, &msg[start..end], mask);
                        start = end;
                        if fin {
                            want.push(if *text {
                                Owned::Text(msg.clone())
                            } else {
                                Owned::Binary(msg.clone())
                            });
                        }
                        for (_, ping, p) in controls.iter().filter(|c| c.0 == i) {
                            want.push(ctl(&mut bytes, *ping, p));
                        }
                    }
                }
            }
        }
        (bytes, want)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn random_streams_round_trip_at_random_splits(
            items in prop::collection::vec(item(), 0..8),
            key in any::<[u8; 4]>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            for role in ROLES {
                let (bytes, want) = encode_items(role, key, &items);
                let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
                cuts.sort_unstable();
                let mut dec = Decoder::new(role, limits());
                prop_assert_eq!(feed(&mut dec, &bytes, &cuts), Ok((want, 0)));
                prop_assert!(!dec.message_in_progress());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let lim = Limits { max_frame: 64, max_message: 128 };
            for role in ROLES {
                let mut dec = Decoder::new(role, lim);
                let _ = feed(&mut dec, &bytes, &[cut.index(bytes.len() + 1)]);
            }
        }
    }
}
