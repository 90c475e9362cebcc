//! Frame encoding into an outbound buffer.

use super::{OpCode, apply_mask};

/// Appends one frame to `out`. Client frames pass `Some(mask)`; server frames `None`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    op: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let n = payload.len();
    out.reserve(n + 14);
    out.push(if fin { 0x80 } else { 0 } | op as u8);
    let mbit = if mask.is_some() { 0x80 } else { 0 };
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
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

/// Appends a close frame carrying `code` and `reason` to `out`.
///
/// A control frame holds at most 125 bytes, so a reason over 123 bytes is cut to 123; when the
/// reason is UTF-8 the cut backs off to a character boundary so the frame stays valid.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &[u8], mask: Option<[u8; 4]>) {
    let mut len = reason.len().min(123);
    if len < reason.len() && std::str::from_utf8(reason).is_ok() {
        // Continuation bytes are 0b10xx_xxxx: step back to the start of a character.
        while len > 0 && reason[len] & 0xC0 == 0x80 {
            len -= 1;
        }
    }
    let mut payload = [0u8; 125];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + len].copy_from_slice(&reason[..len]);
    encode_frame(out, OpCode::Close, true, &payload[..2 + len], mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        for (n, header) in [
            (0usize, 2usize),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
        ] {
            let payload = vec![7u8; n];
            let mut out = Vec::new();
            encode_frame(&mut out, OpCode::Binary, true, &payload, None);
            assert_eq!(out.len(), header + n, "len {n}");
            assert_eq!(out[0], 0x82);
            let mut masked = Vec::new();
            encode_frame(
                &mut masked,
                OpCode::Binary,
                true,
                &payload,
                Some([1, 2, 3, 4]),
            );
            assert_eq!(masked.len(), header + 4 + n, "masked len {n}");
            assert_eq!(masked[1] & 0x80, 0x80);
        }
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455 section 5.7.
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Text, true, b"Hello", None);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode_frame(
            &mut out,
            OpCode::Text,
            true,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        out.clear();
        encode_frame(&mut out, OpCode::Text, false, b"Hel", None);
        encode_frame(&mut out, OpCode::Continuation, true, b"lo", None);
        assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    }

    #[test]
    fn close_reason_is_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        encode_close(&mut out, 1000, b"bye", None);
        assert_eq!(out, [0x88, 5, 0x03, 0xe8, b'b', b'y', b'e']);

        let long = "é".repeat(100); // 200 bytes, two per character
        out.clear();
        encode_close(&mut out, 1001, long.as_bytes(), None);
        assert_eq!(out[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&out[4..]).is_ok());

        let bytes = vec![0xffu8; 200];
        out.clear();
        encode_close(&mut out, 1001, &bytes, None);
        assert_eq!(out[1], 125);
    }
}
