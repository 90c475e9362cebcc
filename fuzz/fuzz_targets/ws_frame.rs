#![no_main]
//! WebSocket frame decoding on arbitrary bytes, delivered in two reads split at a
//! fuzzer-chosen point, for both roles with small limits. The decoder must never panic, and
//! every answer must keep its contract: `need` beyond what is buffered and within
//! `max_frame + MAX_HEADER_LEN`, `consumed` within the buffer, text and close reasons valid
//! UTF-8, errors mapped to 1002/1007/1009.
//!
//! Input layout: byte 0 picks the role and limits, bytes 1..3 the split point, the rest is
//! what the peer sent.

use tickwire_engine::ws::{Decoder, Frame, Limits, MAX_HEADER_LEN, Role};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [sel, hi, lo, bytes @ ..] = data else {
        return;
    };
    let role = if sel & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let limits = Limits {
        max_frame: 1 + usize::from((sel >> 1) & 0x0f) * 16,
        max_message: 1 + usize::from(sel >> 5) * 64,
    };
    let cut = usize::from(u16::from_be_bytes([*hi, *lo])) % (bytes.len() + 1);
    let mut dec = Decoder::new(role, limits);
    let mut rbuf: Vec<u8> = Vec::new();
    for piece in [&bytes[..cut], &bytes[cut..]] {
        rbuf.extend_from_slice(piece);
        loop {
            let have = rbuf.len();
            let d = match dec.decode(&mut rbuf) {
                Ok(d) => d,
                Err(e) => {
                    assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                    return;
                }
            };
            if d.consumed == 0 {
                assert!(d.frame.is_none());
                assert!(d.need > have);
                assert!(d.need <= limits.max_frame + MAX_HEADER_LEN);
                break;
            }
            assert!(d.consumed <= have);
            match d.frame {
                Some(Frame::Text(p)) => {
                    assert!(std::str::from_utf8(p).is_ok());
                    assert!(p.len() <= limits.max_message);
                }
                Some(Frame::Binary(p)) => assert!(p.len() <= limits.max_message),
                Some(Frame::Ping(p) | Frame::Pong(p)) => assert!(p.len() <= 125),
                Some(Frame::Close { code, reason }) => {
                    assert!(code.is_some() || reason.is_empty());
                    assert!(std::str::from_utf8(reason).is_ok());
                }
                None => {}
            }
            let n = d.consumed;
            rbuf.drain(..n);
        }
    }
});
