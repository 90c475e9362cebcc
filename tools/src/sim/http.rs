//! The HTTP side of the port: one request head per connection, parsed with httparse, and
//! the few responses the simulator writes.

/// The parts of a request head the simulator routes on.
#[derive(Debug, Default)]
pub struct Head {
    /// Request method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string (after `?`), raw.
    pub query: String,
    /// `Upgrade: websocket`, `Connection: upgrade` and version 13 were all present.
    pub upgrade: bool,
    /// `Sec-WebSocket-Key`.
    pub ws_key: Option<String>,
    /// Bytes of the head (what follows belongs to the next protocol).
    pub len: usize,
}

/// Why a request head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or more than 64 headers.
    Malformed,
}

/// Parses a complete head from `buf`; `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Malformed),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = Head {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        len,
        ..Head::default()
    };
    let (mut upgrade, mut connection, mut version) = (false, false, false);
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if h.name.eq_ignore_ascii_case("sec-websocket-version") {
            version = value == "13";
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            head.ws_key = Some(value.to_string());
        }
    }
    head.upgrade = upgrade && connection && version && head.ws_key.is_some();
    Ok(Some(head))
}

#[cfg(test)]
use tickwire_feeds::sim::query_param;

/// Appends a complete response with a JSON body; the connection closes after it.
pub fn response(out: &mut Vec<u8>, status: &str, body: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(body);
}

/// Appends the `101 Switching Protocols` answer to a WebSocket upgrade.
pub fn switching_protocols(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upgrade_and_query() {
        let req = b"GET /stream?streams=btcusdt%40trade/btcusdt@depth&x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nrest";
        let head = parse_head(req).unwrap().unwrap();
        assert!(head.upgrade);
        assert_eq!(head.path, "/stream");
        assert_eq!(&req[head.len..], b"rest");
        assert_eq!(
            query_param(&head.query, "streams").as_deref(),
            Some("btcusdt@trade/btcusdt@depth")
        );
        assert_eq!(query_param(&head.query, "y"), None);
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost").unwrap().is_none());
        assert!(parse_head(b"\x01\x02 nonsense\r\n\r\n").is_err());
        let mut out = Vec::new();
        switching_protocols(&mut out, "dGhlIHNhbXBsZSBub25jZQ==");
        // RFC 6455's example key and answer.
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }
}
