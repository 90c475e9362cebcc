//! permessage-deflate (RFC 7692): the client's offer, the check of the server's answer, and
//! the inflater a connection owns.
//!
//! Only the receiving side compresses nothing: the client sends its frames uncompressed,
//! which RFC 7692 section 6 allows (RSV1 is set per message, by the sender's choice). So
//! `client_max_window_bits` and `client_no_context_takeover` from the server bind a
//! compressor we never run, and are accepted as the RFC requires a client to accept them.
//!
//! Inflating: one raw-deflate stream across messages (context takeover) or a fresh one per
//! message (`server_no_context_takeover`); each message's payload is followed by the
//! `00 00 ff ff` the sender stripped (section 7.2.2). The output goes to a buffer the
//! inflater owns and reuses; it never grows past the message limit (a decompression bomb
//! fails with [`WsError::InflatedTooBig`], close code 1009).

use flate2::{Decompress, FlushDecompress, Status};

use super::WsError;

/// The tail a sender strips from each compressed message (an empty stored block).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the client asks for when it offers permessage-deflate.
///
/// The offer always carries `client_max_window_bits` (no value): any window the server
/// asks our compressor to use is fine, since we never compress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateOffer {
    /// Ask the server to use an LZ77 window of at most 2^N bytes (8..=15); `None`: no limit
    /// asked for (the server uses up to 15). A smaller window saves the server memory; our
    /// inflater decodes any window.
    pub server_max_window_bits: Option<u8>,
    /// Ask the server to compress each message on its own (a fresh inflate stream per
    /// message here: less memory held between messages, worse compression).
    pub server_no_context_takeover: bool,
    /// Declare that our compressor will not keep context (it never runs; sent for servers
    /// that want it).
    pub client_no_context_takeover: bool,
}

impl DeflateOffer {
    /// The `Sec-WebSocket-Extensions` value of this offer.
    pub fn header_value(&self) -> String {
        let mut v = String::from("permessage-deflate; client_max_window_bits");
        if let Some(bits) = self.server_max_window_bits {
            v.push_str(&format!("; server_max_window_bits={bits}"));
        }
        if self.server_no_context_takeover {
            v.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            v.push_str("; client_no_context_takeover");
        }
        v
    }

    /// Whether the offer's own values are valid (window bits 8..=15).
    pub fn is_valid(&self) -> bool {
        self.server_max_window_bits
            .is_none_or(|b| (8..=15).contains(&b))
    }
}

/// The parameters the server accepted (RFC 7692 section 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server's LZ77 window (15 when the response names none).
    pub server_max_window_bits: u8,
    /// The window our compressor may use (15 when the response names none; we send
    /// uncompressed frames, so it binds nothing).
    pub client_max_window_bits: u8,
    /// The server resets its compressor after each message: inflate each message with a
    /// fresh stream.
    pub server_no_context_takeover: bool,
    /// Our compressor may not keep context (we send uncompressed frames).
    pub client_no_context_takeover: bool,
}

/// Why the server's `Sec-WebSocket-Extensions` answer to a permessage-deflate offer was
/// refused (the connection fails, RFC 7692 section 5.1 and 7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// An extension other than permessage-deflate, or more than one.
    #[error("an extension other than the one permessage-deflate offered")]
    NotOffered,
    /// A parameter RFC 7692 does not define.
    #[error("unknown permessage-deflate parameter")]
    UnknownParameter,
    /// The same parameter twice.
    #[error("permessage-deflate parameter repeated")]
    DuplicateParameter,
    /// A parameter with a value it may not have, or without one it needs, or a window size
    /// outside 8..=15.
    #[error("invalid permessage-deflate parameter value")]
    InvalidValue,
    /// `server_max_window_bits` larger than the one offered, or missing although offered.
    #[error("server_max_window_bits not as offered")]
    WindowAboveOffer,
    /// The header does not parse as an extension list.
    #[error("malformed Sec-WebSocket-Extensions")]
    Malformed,
}

/// Checks the server's extension answer against `offer`. `values` are the response's
/// `Sec-WebSocket-Extensions` header values (all of them, in order). `Ok(None)`: the server
/// declined (no extension named).
pub fn negotiate<'a>(
    offer: &DeflateOffer,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<DeflateParams>, ExtensionError> {
    let mut found: Option<DeflateParams> = None;
    for value in values {
        let text = std::str::from_utf8(value).map_err(|_| ExtensionError::Malformed)?;
        for element in split_outside_quotes(text, ',') {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            if found.is_some() {
                return Err(ExtensionError::NotOffered);
            }
            found = Some(parse_element(offer, element)?);
        }
    }
    Ok(found)
}

/// Splits at `sep` outside double-quoted strings.
fn split_outside_quotes(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        }
        !quoted && c == sep
    })
}

fn parse_element(offer: &DeflateOffer, element: &str) -> Result<DeflateParams, ExtensionError> {
    let mut parts = split_outside_quotes(element, ';');
    let name = parts.next().unwrap_or("").trim();
    if name != "permessage-deflate" {
        return Err(ExtensionError::NotOffered);
    }
    let mut params = DeflateParams {
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
    };
    let mut seen = [false; 4];
    for part in parts {
        let part = part.trim();
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
            None => (part, None),
        };
        let slot = match key {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return Err(ExtensionError::UnknownParameter),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(ExtensionError::DuplicateParameter);
        }
        match (slot, value) {
            (0, None) => params.server_no_context_takeover = true,
            (1, None) => params.client_no_context_takeover = true,
            (2, Some(v)) => params.server_max_window_bits = window_bits(v)?,
            // Always offered; the server must give a value if it names it (7.1.2.2).
            (3, Some(v)) => params.client_max_window_bits = window_bits(v)?,
            _ => return Err(ExtensionError::InvalidValue),
        }
    }
    if let Some(asked) = offer.server_max_window_bits {
        // The server accepts the parameter by answering it, with the same or a smaller
        // value (7.1.2.1).
        if !seen[2] || params.server_max_window_bits > asked {
            return Err(ExtensionError::WindowAboveOffer);
        }
    }
    Ok(params)
}

/// A token or a quoted-string's content (no escapes are valid in a window size).
fn unquote(v: &str) -> Result<&str, ExtensionError> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or(ExtensionError::Malformed),
        None => Ok(v),
    }
}

/// `%x38-39 / "1" %x30-35`: 8..=15 without leading zeros.
fn window_bits(v: &str) -> Result<u8, ExtensionError> {
    let ok =
        matches!(v.len(), 1 | 2) && v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0');
    match v.parse::<u8>() {
        Ok(bits @ 8..=15) if ok => Ok(bits),
        _ => Err(ExtensionError::InvalidValue),
    }
}

/// The receiving half of a negotiated permessage-deflate: one inflate stream and the buffer
/// messages are inflated into, both owned by the connection's decoder and reused.
#[derive(Debug)]
pub(crate) struct Inflater {
    z: Decompress,
    out: Vec<u8>,
    /// `server_no_context_takeover`: a fresh stream for every message.
    fresh_each_message: bool,
    /// The message limit: `out` never holds more than this (its capacity never exceeds
    /// `limit + 1`, the byte that proves a message too big).
    limit: usize,
}

impl Inflater {
    pub(crate) fn new(params: DeflateParams, limit: usize) -> Inflater {
        Inflater {
            // Raw deflate; the 15-bit window decodes any server window (8..=15).
            z: Decompress::new(false),
            out: Vec::new(),
            fresh_each_message: params.server_no_context_takeover,
            limit,
        }
    }

    /// Re-arms for a new session with `params` (keeps the memory).
    pub(crate) fn configure(&mut self, params: DeflateParams, limit: usize) {
        self.fresh_each_message = params.server_no_context_takeover;
        self.limit = limit;
        self.reset();
    }

    /// Forgets the stream's context and any partial message.
    pub(crate) fn reset(&mut self) {
        self.z.reset(false);
        self.out.clear();
    }

    /// The inflate buffer's capacity (tests check it stays bounded and is reused).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.out.capacity()
    }

    /// Starts a message.
    pub(crate) fn begin(&mut self) {
        self.out.clear();
    }

    /// Inflates one frame's payload, appending to the message's output.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(), WsError> {
        self.inflate(input)
    }

    /// Ends the message: inflates the stripped tail (which flushes the last bytes out) and,
    /// without context takeover, starts a fresh stream for the next message.
    pub(crate) fn finish(&mut self) -> Result<&mut [u8], WsError> {
        self.inflate(&TAIL)?;
        if self.fresh_each_message {
            self.z.reset(false);
        }
        Ok(&mut self.out[..])
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<(), WsError> {
        loop {
            if self.out.len() == self.out.capacity() {
                // Grow by doubling, to one byte past the limit at most.
                let cap = self.out.capacity();
                let target = cap
                    .saturating_mul(2)
                    .max(4096)
                    .min(self.limit.saturating_add(1));
                if target <= cap {
                    return Err(WsError::InflatedTooBig(self.limit as u64));
                }
                self.out.reserve_exact(target - self.out.len());
            }
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress_vec(input, &mut self.out, FlushDecompress::Sync)
                .map_err(|_| WsError::InvalidDeflate)?;
            let used = (self.z.total_in() - in0) as usize;
            let made = self.z.total_out() - out0;
            input = input.get(used..).unwrap_or(&[]);
            if self.out.len() > self.limit {
                return Err(WsError::InflatedTooBig(self.limit as u64));
            }
            if status == Status::StreamEnd {
                // The sender ended the deflate stream (BFINAL): anything after it is the
                // stripped tail we appended; the next message starts a new stream.
                self.z.reset(false);
                return Ok(());
            }
            let full = self.out.len() == self.out.capacity();
            if input.is_empty() && !full {
                return Ok(());
            }
            if used == 0 && made == 0 && !full {
                // Input left, room left, and no progress: the data is broken.
                return Err(WsError::InvalidDeflate);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> DeflateOffer {
        DeflateOffer::default()
    }

    fn neg(offer: &DeflateOffer, v: &str) -> Result<Option<DeflateParams>, ExtensionError> {
        negotiate(offer, [v.as_bytes()])
    }

    #[test]
    fn offer_header() {
        assert_eq!(
            offer().header_value(),
            "permessage-deflate; client_max_window_bits"
        );
        let full = DeflateOffer {
            server_max_window_bits: Some(10),
            server_no_context_takeover: true,
            client_no_context_takeover: true,
        };
        assert_eq!(
            full.header_value(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10; \
             server_no_context_takeover; client_no_context_takeover"
        );
        assert!(full.is_valid());
        for bad in [7, 16, 0] {
            let o = DeflateOffer {
                server_max_window_bits: Some(bad),
                ..offer()
            };
            assert!(!o.is_valid());
        }
    }

    #[test]
    fn accepted_parameters() {
        let p = neg(&offer(), "permessage-deflate").unwrap().unwrap();
        assert_eq!(
            p,
            DeflateParams {
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                server_no_context_takeover: false,
                client_no_context_takeover: false,
            }
        );
        // RFC 7692 section 7.1.1: the server may add either no_context_takeover and a
        // server_max_window_bits the client did not ask for (7.1.2.1).
        let p = neg(
            &offer(),
            "permessage-deflate; server_no_context_takeover ;client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=\"12\"",
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (9, 12)
        );
        // Declined: no extension, or only empty values.
        assert_eq!(neg(&offer(), ""), Ok(None));
        assert_eq!(negotiate(&offer(), []), Ok(None));
        // Split over two header lines is one list.
        assert!(
            negotiate(&offer(), [&b"permessage-deflate"[..], b" "])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn window_bits_against_the_offer() {
        let asked = DeflateOffer {
            server_max_window_bits: Some(10),
            ..offer()
        };
        for (answer, want) in [
            ("permessage-deflate; server_max_window_bits=10", Ok(10)),
            ("permessage-deflate; server_max_window_bits=8", Ok(8)),
            (
                "permessage-deflate; server_max_window_bits=11",
                Err(ExtensionError::WindowAboveOffer),
            ),
            // Accepting the parameter means answering it (7.1.2.1).
            ("permessage-deflate", Err(ExtensionError::WindowAboveOffer)),
        ] {
            assert_eq!(
                neg(&asked, answer).map(|p| p.map(|p| p.server_max_window_bits)),
                want.map(Some),
                "{answer}"
            );
        }
    }

    #[test]
    fn refused_answers() {
        use ExtensionError::*;
        for (answer, want) in [
            ("x-webkit-deflate-frame", NotOffered),
            ("permessage-deflate, permessage-deflate", NotOffered),
            ("permessage-deflate, x-other", NotOffered),
            ("permessage-deflate; foo", UnknownParameter),
            ("permessage-deflate; foo=1", UnknownParameter),
            (
                "permessage-deflate; server_no_context_takeover=1",
                InvalidValue,
            ),
            (
                "permessage-deflate; client_no_context_takeover=x",
                InvalidValue,
            ),
            ("permessage-deflate; server_max_window_bits", InvalidValue),
            ("permessage-deflate; client_max_window_bits", InvalidValue),
            ("permessage-deflate; server_max_window_bits=7", InvalidValue),
            (
                "permessage-deflate; server_max_window_bits=16",
                InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=010",
                InvalidValue,
            ),
            (
                "permessage-deflate; server_max_window_bits=+9",
                InvalidValue,
            ),
            (
                "permessage-deflate; client_max_window_bits=abc",
                InvalidValue,
            ),
            ("permessage-deflate; server_max_window_bits=\"9", Malformed),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                DuplicateParameter,
            ),
            (
                "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
                DuplicateParameter,
            ),
        ] {
            assert_eq!(neg(&offer(), answer), Err(want), "{answer}");
        }
        assert_eq!(
            negotiate(&offer(), [&b"permessage-deflate\xff"[..]]),
            Err(Malformed)
        );
    }
}
