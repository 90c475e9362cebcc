//! The client side of the HTTP upgrade (RFC 6455 section 4), on byte slices.
//!
//! tungstenite does the HTTP work: it writes the request (key, version, custom headers,
//! subprotocols) and validates the response (status 101, `Upgrade`, `Connection`,
//! `Sec-WebSocket-Accept`, subprotocol agreement). We drive its handshake machine over an
//! in-memory pipe that is only ever handed the bytes up to the end of the response's header
//! block, so frames the server sends right after the response stay with the caller.

use std::io::{self, Read, Write};

use tungstenite::client::{ClientRequestBuilder, IntoClientRequest};
use tungstenite::error::{Error as TgError, ProtocolError, UrlError};
use tungstenite::handshake::client::ClientHandshake as TgClientHandshake;
use tungstenite::handshake::{HandshakeError as TgHandshakeError, MidHandshake};
use tungstenite::http::Uri;
use tungstenite::protocol::WebSocketConfig;

use super::deflate::{self, DeflateOffer, DeflateParams, ExtensionError};
use crate::reason::Reason;

/// Largest response header block accepted.
pub const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// Request headers the handshake writes itself; a custom header may not repeat them.
/// `Sec-WebSocket-Extensions` is written from [`HandshakeRequest::deflate`] only: the
/// decoder implements permessage-deflate and nothing else.
const MANAGED_HEADERS: [&str; 7] = [
    "Host",
    "Connection",
    "Upgrade",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
];

/// Longest `Retry-After` honoured: a longer one is read as this (the connection keeps
/// retrying at this pace rather than going quiet for hours on one header).
pub const MAX_RETRY_AFTER_SECS: u32 = 300;

/// What to connect to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// `ws://` or `wss://` URL: host, optional port, path and query.
    pub url: String,
    /// Extra request headers (e.g. authentication). `Host`, `Connection`, `Upgrade` and the
    /// `Sec-WebSocket-*` headers are written by the handshake and rejected here.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer; when non-empty the server must pick one of them.
    pub subprotocols: Vec<String>,
    /// Offer permessage-deflate (RFC 7692) with these parameters; `None`: offer no
    /// extension (and fail on any the server names).
    pub deflate: Option<DeflateOffer>,
}

/// The server's accepted upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeResponse {
    /// HTTP status (always 101 once accepted).
    pub status: u16,
    /// Response headers, names lower-case, values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters the server accepted; `None` when it declined or
    /// none was offered.
    pub deflate: Option<DeflateParams>,
}

/// Why an upgrade could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The URL does not parse, has no host, or its scheme is not `ws`/`wss`.
    #[error("bad WebSocket URL")]
    BadUrl,
    /// A custom header has an invalid name or value, or repeats a WebSocket header.
    #[error("invalid request header")]
    InvalidHeader,
    /// The server answered with a status other than 101.
    #[error("upgrade refused with HTTP status {status}")]
    Refused {
        /// The HTTP status the server sent.
        status: u16,
        /// Its `Retry-After` in seconds (delay-seconds form only; an HTTP-date is ignored),
        /// at most 300 (longer values are read as 300).
        retry_after: Option<u32>,
    },
    /// The 101 response names an extension (`Sec-WebSocket-Extensions`) although none was
    /// offered (RFC 6455 section 4.1: the client must fail the connection).
    #[error("the server chose an extension the client never offered")]
    UnrequestedExtension,
    /// The server's answer to a permessage-deflate offer breaks RFC 7692 (a parameter not
    /// offered or unknown, an invalid or repeated value, another extension): the client
    /// fails the connection (section 5.1).
    #[error("invalid permessage-deflate answer: {0}")]
    BadExtension(ExtensionError),
    /// The response lacks `Upgrade: websocket`.
    #[error("response lacks Upgrade: websocket")]
    MissingUpgrade,
    /// The response lacks `Connection: Upgrade`.
    #[error("response lacks Connection: Upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match the key sent.
    #[error("Sec-WebSocket-Accept does not match the key")]
    BadAcceptKey,
    /// The server chose no subprotocol, one that was not offered, or one when none was.
    #[error("subprotocol mismatch")]
    SubprotocolMismatch,
    /// The response header block exceeds [`MAX_RESPONSE_HEADER`] bytes (or too many lines).
    #[error("response header too large")]
    HeaderTooLarge,
    /// The response is not a valid HTTP/1.1 response.
    #[error("malformed HTTP response")]
    Malformed,
    /// `feed` was called after the handshake had finished or failed.
    #[error("handshake already finished")]
    Finished,
}

impl HandshakeError {
    /// The reason reported in status events and telemetry: `UpgradeBusy` for 429 and 503
    /// (come back later), `Protocol` for an extension never offered, else `Handshake`.
    pub const fn reason(&self) -> Reason {
        match self {
            HandshakeError::Refused {
                status: 429 | 503, ..
            } => Reason::UpgradeBusy,
            HandshakeError::UnrequestedExtension | HandshakeError::BadExtension(_) => {
                Reason::Protocol
            }
            _ => Reason::Handshake,
        }
    }

    /// How long the server asked the client to wait before the next attempt (`Retry-After`
    /// of a refusal), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            HandshakeError::Refused {
                retry_after: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(u64::from(*s))),
            _ => None,
        }
    }
}

/// `Retry-After` as delay-seconds (RFC 9110 section 10.2.3), capped at
/// [`MAX_RETRY_AFTER_SECS`]; `None` for an HTTP-date or garbage.
fn parse_retry_after(value: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: too many to fit means "very long".
    Some(text.parse::<u64>().map_or(MAX_RETRY_AFTER_SECS, |n| {
        n.min(u64::from(MAX_RETRY_AFTER_SECS)) as u32
    }))
}

/// In-memory stream under tungstenite's handshake machine: collects what it writes and
/// serves what we decided it may read; reports `WouldBlock` when empty.
#[derive(Debug, Default)]
struct Pipe {
    readable: Vec<u8>,
    read_pos: usize,
    written: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let rest = &self.readable[self.read_pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.read_pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Machine = MidHandshake<TgClientHandshake<Pipe>>;

/// One client upgrade: write [`ClientHandshake::request_bytes`], then [`ClientHandshake::feed`]
/// what the server sends until it returns the response.
#[derive(Debug)]
pub struct ClientHandshake {
    machine: Option<Machine>,
    request: Vec<u8>,
    /// Response bytes received so far (the header block is not complete yet).
    header: Vec<u8>,
    /// The permessage-deflate offer made, if any.
    deflate: Option<DeflateOffer>,
}

impl ClientHandshake {
    /// Prepares the upgrade request for `req`.
    pub fn new(req: &HandshakeRequest) -> Result<ClientHandshake, HandshakeError> {
        let uri: Uri = req.url.parse().map_err(|_| HandshakeError::BadUrl)?;
        if !matches!(uri.scheme_str(), Some("ws" | "wss")) || uri.host().is_none() {
            return Err(HandshakeError::BadUrl);
        }
        let mut builder = ClientRequestBuilder::new(uri);
        for (name, value) in &req.headers {
            if MANAGED_HEADERS
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name.trim()))
            {
                return Err(HandshakeError::InvalidHeader);
            }
            builder = builder.with_header(name.as_str(), value.as_str());
        }
        for protocol in &req.subprotocols {
            builder = builder.with_sub_protocol(protocol.as_str());
        }
        if let Some(offer) = &req.deflate {
            if !offer.is_valid() {
                return Err(HandshakeError::InvalidHeader);
            }
            builder = builder.with_header("Sec-WebSocket-Extensions", offer.header_value());
        }
        let request = builder
            .into_client_request()
            .map_err(|e| request_error(&e))?;
        // The WebSocket tungstenite builds on success is dropped at once; keep it small.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let machine = TgClientHandshake::start(Pipe::default(), request, Some(config))
            .map_err(|e| request_error(&e))?;
        // Runs the writing stage to completion and stops at the first read (WouldBlock).
        let mut machine = match machine.handshake() {
            Err(TgHandshakeError::Interrupted(m)) => m,
            Err(TgHandshakeError::Failure(e)) => return Err(request_error(&e)),
            Ok(_) => return Err(HandshakeError::Malformed),
        };
        let request = std::mem::take(&mut machine.get_mut().get_mut().written);
        Ok(ClientHandshake {
            machine: Some(machine),
            request,
            header: Vec::new(),
            deflate: req.deflate,
        })
    }

    /// The HTTP upgrade request to write to the server.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// Feeds bytes received from the server (each byte once: pass only new bytes).
    ///
    /// `Ok(None)`: all of `input` was taken and the response is still incomplete.
    /// `Ok(Some((consumed, response)))`: the upgrade succeeded; `input[..consumed]` ended the
    /// response, and `input[consumed..]` are WebSocket frame bytes that belong to the caller.
    pub fn feed(
        &mut self,
        input: &[u8],
    ) -> Result<Option<(usize, UpgradeResponse)>, HandshakeError> {
        if self.machine.is_none() {
            return Err(HandshakeError::Finished);
        }
        let old = self.header.len();
        let room = MAX_RESPONSE_HEADER.saturating_sub(old);
        self.header
            .extend_from_slice(&input[..input.len().min(room)]);
        let Some(end) = header_end(&self.header, old.saturating_sub(2)) else {
            if self.header.len() >= MAX_RESPONSE_HEADER {
                self.machine = None;
                return Err(HandshakeError::HeaderTooLarge);
            }
            return Ok(None);
        };
        self.header.truncate(end);
        let consumed = end - old;

        let Some(mut machine) = self.machine.take() else {
            return Err(HandshakeError::Finished);
        };
        machine.get_mut().get_mut().readable = std::mem::take(&mut self.header);
        let response = match machine.handshake() {
            Ok((_, response)) => response,
            Err(TgHandshakeError::Failure(e)) => return Err(response_error(&e)),
            // It wanted more than a complete header block: not a valid response.
            Err(TgHandshakeError::Interrupted(_)) => return Err(HandshakeError::Malformed),
        };
        // tungstenite does not check extensions: only what was offered may come back.
        let extensions = response.headers().get_all("Sec-WebSocket-Extensions");
        let deflate = match &self.deflate {
            None => {
                if extensions
                    .iter()
                    .any(|v| !v.as_bytes().trim_ascii().is_empty())
                {
                    return Err(HandshakeError::UnrequestedExtension);
                }
                None
            }
            Some(offer) => deflate::negotiate(offer, extensions.iter().map(|v| v.as_bytes()))
                .map_err(HandshakeError::BadExtension)?,
        };
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let subprotocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(Some((
            consumed,
            UpgradeResponse {
                status: response.status().as_u16(),
                headers,
                subprotocol,
                deflate,
            },
        )))
    }
}

/// End of the HTTP header block (just past the empty line), searching from `from`.
/// Accepts bare LF line ends as httparse does.
fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// Maps a tungstenite error from building or writing the request.
fn request_error(e: &TgError) -> HandshakeError {
    match e {
        TgError::Url(_) => HandshakeError::BadUrl,
        TgError::HttpFormat(_) | TgError::Utf8(_) => HandshakeError::InvalidHeader,
        TgError::Protocol(ProtocolError::InvalidHeader(_)) => HandshakeError::InvalidHeader,
        other => response_error(other),
    }
}

/// Maps a tungstenite error from reading or validating the response.
fn response_error(e: &TgError) -> HandshakeError {
    match e {
        TgError::Http(response) => HandshakeError::Refused {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("Retry-After")
                .and_then(|v| parse_retry_after(v.as_bytes())),
        },
        TgError::Protocol(p) => match p {
            ProtocolError::MissingUpgradeWebSocketHeader => HandshakeError::MissingUpgrade,
            ProtocolError::MissingConnectionUpgradeHeader => {
                HandshakeError::MissingConnectionUpgrade
            }
            ProtocolError::SecWebSocketAcceptKeyMismatch => HandshakeError::BadAcceptKey,
            ProtocolError::SecWebSocketSubProtocolError(_) => HandshakeError::SubprotocolMismatch,
            _ => HandshakeError::Malformed,
        },
        TgError::Capacity(_) | TgError::AttackAttempt => HandshakeError::HeaderTooLarge,
        TgError::Url(UrlError::UnsupportedUrlScheme) => HandshakeError::BadUrl,
        _ => HandshakeError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::handshake::derive_accept_key;

    fn request(url: &str) -> HandshakeRequest {
        HandshakeRequest {
            url: url.into(),
            ..Default::default()
        }
    }

    fn header_value<'a>(request: &'a [u8], name: &str) -> Option<&'a str> {
        let text = std::str::from_utf8(request).unwrap();
        text.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// A 101 response accepting `hs`'s key, with `extra` header lines.
    fn accept(hs: &ClientHandshake, extra: &str) -> Vec<u8> {
        let key = header_value(hs.request_bytes(), "Sec-WebSocket-Key").unwrap();
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
            derive_accept_key(key.as_bytes())
        )
        .into_bytes()
    }

    #[test]
    fn request_has_path_query_host_port_headers_and_subprotocols() {
        let hs = ClientHandshake::new(&HandshakeRequest {
            url: "wss://127.0.0.1:9443/stream?streams=btcusdt@depth&x=1".into(),
            headers: vec![("X-Api-Key".into(), "secret".into())],
            subprotocols: vec!["json".into(), "v2".into()],
            deflate: None,
        })
        .unwrap();
        let req = hs.request_bytes();
        let text = std::str::from_utf8(req).unwrap();
        assert!(
            text.starts_with("GET /stream?streams=btcusdt@depth&x=1 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(header_value(req, "Host"), Some("127.0.0.1:9443"));
        assert_eq!(header_value(req, "Upgrade"), Some("websocket"));
        assert_eq!(header_value(req, "Connection"), Some("Upgrade"));
        assert_eq!(header_value(req, "Sec-WebSocket-Version"), Some("13"));
        assert_eq!(
            header_value(req, "Sec-WebSocket-Key").map(str::len),
            Some(24)
        );
        assert_eq!(header_value(req, "X-Api-Key"), Some("secret"));
        assert_eq!(
            header_value(req, "Sec-WebSocket-Protocol"),
            Some("json, v2")
        );
    }

    #[test]
    fn default_port_and_missing_path() {
        let hs = ClientHandshake::new(&request("ws://example.com")).unwrap();
        let req = hs.request_bytes();
        assert!(req.starts_with(b"GET / HTTP/1.1\r\n"));
        assert_eq!(header_value(req, "Host"), Some("example.com"));
        // Each handshake uses a fresh key.
        let other = ClientHandshake::new(&request("ws://example.com")).unwrap();
        assert_ne!(
            header_value(req, "Sec-WebSocket-Key"),
            header_value(other.request_bytes(), "Sec-WebSocket-Key")
        );
    }

    #[test]
    fn good_response_keeps_the_frames_after_it() {
        let mut hs = ClientHandshake::new(&request("ws://127.0.0.1:1/ws")).unwrap();
        let mut input = accept(&hs, "X-Server: canned\r\n");
        let header_len = input.len();
        input.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let (consumed, resp) = hs.feed(&input).unwrap().unwrap();
        assert_eq!(consumed, header_len);
        assert_eq!(&input[consumed..], &[0x81, 0x02, b'h', b'i']);
        assert_eq!(resp.status, 101);
        assert_eq!(resp.subprotocol, None);
        assert!(
            resp.headers
                .contains(&("x-server".to_string(), "canned".to_string()))
        );
        assert_eq!(hs.feed(b"more"), Err(HandshakeError::Finished));
    }

    #[test]
    fn response_fed_in_pieces() {
        let mut hs = ClientHandshake::new(&request("ws://127.0.0.1:1/ws")).unwrap();
        let mut input = accept(&hs, "");
        let header_len = input.len();
        input.extend_from_slice(b"\x89\x00frames");
        // Byte by byte up to the end of the header block.
        for (i, b) in input[..header_len - 1].iter().enumerate() {
            assert_eq!(hs.feed(&[*b]), Ok(None), "byte {i}");
        }
        let (consumed, resp) = hs.feed(&input[header_len - 1..]).unwrap().unwrap();
        assert_eq!(consumed, 1);
        assert_eq!(resp.status, 101);

        // Cut inside the terminating CRLFCRLF, frames in the second piece.
        for cut in header_len - 4..header_len {
            let mut hs = ClientHandshake::new(&request("ws://127.0.0.1:1/ws")).unwrap();
            let mut input = accept(&hs, "");
            input.extend_from_slice(b"\x89\x00frames");
            assert_eq!(hs.feed(&input[..cut]), Ok(None));
            let (consumed, _) = hs.feed(&input[cut..]).unwrap().unwrap();
            assert_eq!(&input[cut + consumed..], b"\x89\x00frames");
        }
    }

    #[test]
    fn subprotocol_agreement() {
        let offer = |url: &str, protocols: &[&str]| {
            ClientHandshake::new(&HandshakeRequest {
                url: url.into(),
                headers: vec![],
                subprotocols: protocols.iter().map(|p| p.to_string()).collect(),
                deflate: None,
            })
            .unwrap()
        };
        let mut hs = offer("ws://h/", &["a", "b"]);
        let resp = accept(&hs, "Sec-WebSocket-Protocol: b\r\n");
        let (_, r) = hs.feed(&resp).unwrap().unwrap();
        assert_eq!(r.subprotocol.as_deref(), Some("b"));

        let mut hs = offer("ws://h/", &["a", "b"]);
        let resp = accept(&hs, "");
        assert_eq!(hs.feed(&resp), Err(HandshakeError::SubprotocolMismatch));

        let mut hs = offer("ws://h/", &["a", "b"]);
        let resp = accept(&hs, "Sec-WebSocket-Protocol: c\r\n");
        assert_eq!(hs.feed(&resp), Err(HandshakeError::SubprotocolMismatch));

        let mut hs = offer("ws://h/", &[]);
        let resp = accept(&hs, "Sec-WebSocket-Protocol: a\r\n");
        assert_eq!(hs.feed(&resp), Err(HandshakeError::SubprotocolMismatch));
    }

    #[test]
    fn rejected_responses() {
        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        let wrong = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(hs.feed(wrong), Err(HandshakeError::BadAcceptKey));

        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        let forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden";
        assert_eq!(
            hs.feed(forbidden),
            Err(HandshakeError::Refused {
                status: 403,
                retry_after: None
            })
        );
        assert_eq!(
            HandshakeError::Refused {
                status: 403,
                retry_after: None
            }
            .reason(),
            Reason::Handshake
        );

        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        let ok = accept(&hs, "");
        let no_upgrade = String::from_utf8(ok)
            .unwrap()
            .replace("Upgrade: websocket\r\n", "");
        assert_eq!(
            hs.feed(no_upgrade.as_bytes()),
            Err(HandshakeError::MissingUpgrade)
        );

        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        let ok = accept(&hs, "");
        let no_connection = String::from_utf8(ok)
            .unwrap()
            .replace("Connection: Upgrade\r\n", "");
        assert_eq!(
            hs.feed(no_connection.as_bytes()),
            Err(HandshakeError::MissingConnectionUpgrade)
        );

        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        assert_eq!(
            hs.feed(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(hs.feed(b"x"), Err(HandshakeError::Finished));
    }

    #[test]
    fn an_extension_never_offered_fails_the_upgrade() {
        // RFC 6455 section 4.1: "If the response includes a |Sec-WebSocket-Extensions| header
        // field and this header field indicates the use of an extension that was not present
        // in the client's handshake ..., the client MUST _Fail the WebSocket Connection_."
        for ext in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "x-webkit-deflate-frame",
        ] {
            let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
            let resp = accept(&hs, &format!("Sec-WebSocket-Extensions: {ext}\r\n"));
            assert_eq!(
                hs.feed(&resp),
                Err(HandshakeError::UnrequestedExtension),
                "{ext}"
            );
            assert_eq!(
                HandshakeError::UnrequestedExtension.reason(),
                Reason::Protocol
            );
        }
    }

    fn deflate_request(offer: DeflateOffer) -> ClientHandshake {
        ClientHandshake::new(&HandshakeRequest {
            url: "ws://h/".into(),
            deflate: Some(offer),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn permessage_deflate_offer_and_answer() {
        let offer = DeflateOffer {
            server_max_window_bits: Some(12),
            server_no_context_takeover: false,
            client_no_context_takeover: true,
        };
        let mut hs = deflate_request(offer);
        assert_eq!(
            header_value(hs.request_bytes(), "Sec-WebSocket-Extensions"),
            Some(
                "permessage-deflate; client_max_window_bits; server_max_window_bits=12; \
                 client_no_context_takeover"
            )
        );
        let resp = accept(
            &hs,
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; \
             client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover\r\n",
        );
        let (_, r) = hs.feed(&resp).unwrap().unwrap();
        assert_eq!(
            r.deflate,
            Some(DeflateParams {
                server_max_window_bits: 10,
                client_max_window_bits: 9,
                server_no_context_takeover: true,
                client_no_context_takeover: true,
            })
        );

        // Declined: the session runs without it.
        let mut hs = deflate_request(DeflateOffer::default());
        let (_, r) = hs.feed(&accept(&hs, "")).unwrap().unwrap();
        assert_eq!(r.deflate, None);

        // An invalid answer fails the upgrade as a protocol error.
        for (answer, want) in [
            (
                "permessage-deflate; server_max_window_bits=13",
                ExtensionError::WindowAboveOffer,
            ),
            (
                "permessage-deflate; mystery",
                ExtensionError::UnknownParameter,
            ),
            ("x-webkit-deflate-frame", ExtensionError::NotOffered),
        ] {
            let mut hs = deflate_request(offer);
            let resp = accept(&hs, &format!("Sec-WebSocket-Extensions: {answer}\r\n"));
            assert_eq!(
                hs.feed(&resp),
                Err(HandshakeError::BadExtension(want)),
                "{answer}"
            );
            assert_eq!(
                HandshakeError::BadExtension(want).reason(),
                Reason::Protocol
            );
        }

        // An offer with an impossible window is refused before anything is sent.
        let bad = HandshakeRequest {
            url: "ws://h/".into(),
            deflate: Some(DeflateOffer {
                server_max_window_bits: Some(16),
                ..DeflateOffer::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            ClientHandshake::new(&bad).err(),
            Some(HandshakeError::InvalidHeader)
        );
    }

    #[test]
    fn retry_after_of_a_refusal_is_kept() {
        let refuse = |status: &str, extra: &str| {
            let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
            let resp = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n");
            hs.feed(resp.as_bytes()).unwrap_err()
        };
        let e = refuse("429 Too Many Requests", "Retry-After: 25\r\n");
        assert_eq!(
            e,
            HandshakeError::Refused {
                status: 429,
                retry_after: Some(25)
            }
        );
        assert_eq!(e.reason(), Reason::UpgradeBusy);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(25)));
        let e = refuse("503 Service Unavailable", "Retry-After: 20\r\n");
        assert_eq!(e.reason(), Reason::UpgradeBusy);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(20)));
        // An HTTP-date is not read; none given is none.
        let e = refuse(
            "503 Service Unavailable",
            "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
        );
        assert_eq!(e.retry_after(), None);
        assert_eq!(refuse("429 Too Many Requests", "").retry_after(), None);
        // Capped.
        let e = refuse(
            "429 Too Many Requests",
            "Retry-After: 99999999999999999999999\r\n",
        );
        assert_eq!(
            e.retry_after(),
            Some(std::time::Duration::from_secs(MAX_RETRY_AFTER_SECS.into()))
        );
        assert_eq!(parse_retry_after(b" 7 "), Some(7));
        assert_eq!(parse_retry_after(b"-1"), None);
        assert_eq!(parse_retry_after(b""), None);
    }

    #[test]
    fn bare_lf_response_is_accepted() {
        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        let crlf = String::from_utf8(accept(&hs, "")).unwrap();
        let mut input = crlf.replace("\r\n", "\n").into_bytes();
        let header_len = input.len();
        input.extend_from_slice(b"\x8a\x00");
        let (consumed, _) = hs.feed(&input).unwrap().unwrap();
        assert_eq!(consumed, header_len);
    }

    #[test]
    fn oversized_header_block() {
        let mut hs = ClientHandshake::new(&request("ws://h/")).unwrap();
        assert_eq!(hs.feed(b"HTTP/1.1 101 Switching Protocols\r\n"), Ok(None));
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut result = Ok(None);
        for _ in 0..(MAX_RESPONSE_HEADER / line.len() + 1) {
            result = hs.feed(line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HandshakeError::HeaderTooLarge));
        assert_eq!(hs.feed(b"\r\n"), Err(HandshakeError::Finished));
    }

    #[test]
    fn bad_urls_and_headers() {
        for url in [
            "http://h/",
            "not a url",
            "ws://",
            "/relative",
            "ftp://h:21/",
            "",
        ] {
            assert_eq!(
                ClientHandshake::new(&request(url)).err(),
                Some(HandshakeError::BadUrl),
                "{url}"
            );
        }
        for (name, value) in [
            ("bad header", "v"),
            ("X-Ok", "bad\r\nvalue"),
            ("Host", "x"),
            ("sec-websocket-key", "x"),
            ("Sec-WebSocket-Protocol", "x"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ] {
            let req = HandshakeRequest {
                url: "ws://h/".into(),
                headers: vec![(name.into(), value.into())],
                subprotocols: vec![],
                deflate: None,
            };
            assert_eq!(
                ClientHandshake::new(&req).err(),
                Some(HandshakeError::InvalidHeader),
                "{name}"
            );
        }
    }

    #[test]
    fn header_end_search() {
        assert_eq!(header_end(b"a\r\n\r\nb", 0), Some(5));
        assert_eq!(header_end(b"a\n\nb", 0), Some(3));
        assert_eq!(header_end(b"a\r\nb\r\n", 0), None);
        assert_eq!(header_end(b"", 0), None);
        assert_eq!(header_end(b"ab", 7), None);
    }
}
