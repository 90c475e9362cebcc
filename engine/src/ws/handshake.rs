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

use crate::reason::Reason;

/// Largest response header block accepted.
pub const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// What to connect to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// `ws://` or `wss://` URL: host, optional port, path and query.
    pub url: String,
    /// Extra request headers (e.g. authentication); must not repeat the WebSocket ones.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer; when non-empty the server must pick one of them.
    pub subprotocols: Vec<String>,
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
    },
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
    /// The reason reported in status events and telemetry.
    pub const fn reason(&self) -> Reason {
        Reason::Handshake
    }
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
            builder = builder.with_header(name.as_str(), value.as_str());
        }
        for protocol in &req.subprotocols {
            builder = builder.with_sub_protocol(protocol.as_str());
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
