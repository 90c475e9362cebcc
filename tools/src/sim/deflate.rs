//! permessage-deflate (RFC 7692) on the simulator's side: answer a client's offer and
//! compress outgoing text messages (raw deflate, sync flush, the `00 00 ff ff` tail
//! stripped, RSV1 on the frame). Control frames are never compressed.

use flate2::{Compress, Compression, FlushCompress};

use tickwire_engine::ws::{OpCode, encode_frame};

/// One session's compressor.
pub(crate) struct Deflater {
    z: Compress,
    /// `server_no_context_takeover` was asked for: a fresh stream for every message.
    fresh_each_message: bool,
    /// Compressed bytes of the message being framed (reused).
    buf: Vec<u8>,
}

impl Deflater {
    /// The answer to the client's `Sec-WebSocket-Extensions` offer and the compressor it
    /// implies, or `None` to decline (no permessage-deflate offered, or only offers this
    /// server cannot honour).
    ///
    /// Each comma-separated offer is tried in order. `server_no_context_takeover` is
    /// honoured; `server_max_window_bits=N` is answered with N and compressed with a window
    /// of 2^N (zlib has no 8-bit raw window, so an offer of 8 is declined);
    /// `client_max_window_bits` and `client_no_context_takeover` bind the client's
    /// compressor and need no answer.
    pub(crate) fn accept(offer: &str) -> Option<(String, Deflater)> {
        'offers: for element in offer.split(',') {
            let mut parts = element.split(';').map(str::trim);
            if parts.next() != Some("permessage-deflate") {
                continue;
            }
            let (mut bits, mut fresh) = (None, false);
            for p in parts {
                let (key, value) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                match (key, value) {
                    ("server_no_context_takeover", None) => fresh = true,
                    ("client_no_context_takeover", None) | ("client_max_window_bits", _) => {}
                    ("server_max_window_bits", Some(v)) => match v.parse::<u8>() {
                        Ok(n @ 9..=15) => bits = Some(n),
                        _ => continue 'offers,
                    },
                    _ => continue 'offers,
                }
            }
            let mut answer = String::from("permessage-deflate");
            if fresh {
                answer.push_str("; server_no_context_takeover");
            }
            if let Some(n) = bits {
                answer.push_str(&format!("; server_max_window_bits={n}"));
            }
            let z =
                Compress::new_with_window_bits(Compression::default(), false, bits.unwrap_or(15));
            let deflater = Deflater {
                z,
                fresh_each_message: fresh,
                buf: Vec::with_capacity(4096),
            };
            return Some((answer, deflater));
        }
        None
    }

    /// Appends `payload` to `out` as one compressed text frame.
    pub(crate) fn text_frame(&mut self, out: &mut Vec<u8>, payload: &[u8]) {
        if self.fresh_each_message {
            self.z.reset();
        }
        self.buf.clear();
        let start = self.z.total_in();
        loop {
            let done = usize::try_from(self.z.total_in() - start).unwrap_or(payload.len());
            if self.buf.len() == self.buf.capacity() {
                self.buf.reserve(4096);
            }
            let input = payload.get(done..).unwrap_or(&[]);
            if self
                .z
                .compress_vec(input, &mut self.buf, FlushCompress::Sync)
                .is_err()
            {
                // Cannot happen with a valid stream; send it uncompressed rather than wrong.
                encode_frame(out, OpCode::Text, true, payload, None);
                return;
            }
            let all_in = usize::try_from(self.z.total_in() - start).unwrap_or(0) >= payload.len();
            if all_in && self.buf.len() < self.buf.capacity() {
                break;
            }
        }
        if self.buf.ends_with(&[0, 0, 0xff, 0xff]) {
            self.buf.truncate(self.buf.len() - 4);
        }
        let first = out.len();
        encode_frame(out, OpCode::Text, true, &self.buf, None);
        out[first] |= 0x40; // RSV1: compressed
    }
}

/// Appends `payload` as a text frame: compressed when the session negotiated deflate.
pub(crate) fn text_frame(out: &mut Vec<u8>, deflater: Option<&mut Deflater>, payload: &[u8]) {
    match deflater {
        Some(d) => d.text_frame(out, payload),
        None => encode_frame(out, OpCode::Text, true, payload, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_engine::ws::{Decoder, DeflateParams, Frame, Limits, Role};

    #[test]
    fn answers() {
        let a = |o: &str| Deflater::accept(o).map(|(s, _)| s);
        assert_eq!(
            a("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            a("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        );
        // An offer this server cannot honour falls to the next one, or is declined.
        assert_eq!(
            a("permessage-deflate; server_max_window_bits=8, permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(a("permessage-deflate; server_max_window_bits=8"), None);
        assert_eq!(a("permessage-deflate; x=1"), None);
        assert_eq!(a("x-webkit-deflate-frame"), None);
    }

    #[test]
    fn the_engine_inflates_what_the_sim_compresses() {
        for (offer, fresh) in [
            ("permessage-deflate", false),
            ("permessage-deflate; server_no_context_takeover", true),
        ] {
            let (_, mut d) = Deflater::accept(offer).unwrap();
            let mut out = Vec::new();
            let msgs: Vec<String> = (0..100)
                .map(|i| format!("{{\"e\":\"trade\",\"t\":{i},\"p\":\"61837.63\"}}"))
                .collect();
            for m in &msgs {
                text_frame(&mut out, Some(&mut d), m.as_bytes());
            }
            let mut dec = Decoder::new(Role::Client, Limits::default());
            dec.set_deflate(Some(DeflateParams {
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                server_no_context_takeover: fresh,
                client_no_context_takeover: false,
            }));
            let mut got = Vec::new();
            let mut at = 0;
            while at < out.len() {
                let d = dec.decode(&mut out[at..]).unwrap();
                assert!(!d.is_incomplete());
                at += d.consumed;
                if let Some(Frame::Text(t)) = d.frame {
                    got.push(String::from_utf8(t.to_vec()).unwrap());
                }
            }
            assert_eq!(got, msgs);
        }
    }
}
