//! A loopback WebSocket server for integration tests: plain or TLS, one thread per client,
//! driven by a per-test script that speaks raw RFC 6455 frames.
//!
//! The server does the HTTP upgrade itself (accept key from tungstenite), then hands a
//! [`Peer`] to the script. A `Peer` can send text, fragmented, ping, oversized and invalid
//! frames, read and record what the client sent, answer pings, stop answering or go silent.
//! [`TestServer::kill`] drops every connection at once; [`TestServer::start_on`] restarts on
//! the same port.
//!
//! [`TestServer::plain_with_extensions`] answers the client's `Sec-WebSocket-Extensions`
//! offer as the test decides; when that answer accepts permessage-deflate, the peer
//! compresses its text messages (RFC 7692: raw deflate, sync flush, tail stripped, RSV1 on
//! the first frame) with the window and context takeover it answered.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::tls::TestCert;

/// One frame the client sent, as the server saw it (unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFrame {
    /// Which accepted connection (0-based, in accept order).
    pub conn: usize,
    /// Opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// FIN bit.
    pub fin: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
    /// When the server read it.
    pub at: Instant,
}

impl ClientFrame {
    /// The close code, if this is a close frame with one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// What the server recorded, shared with the test.
#[derive(Default)]
pub struct Record {
    /// Frames the clients sent.
    pub frames: Vec<ClientFrame>,
    /// Upgrade request paths, in accept order.
    pub paths: Vec<String>,
    /// Upgrade request headers (lower-case names), in accept order.
    pub headers: Vec<Vec<(String, String)>>,
    /// When each connection was accepted.
    pub accepted_at: Vec<Instant>,
    /// When each connection ended (EOF or error seen by the server).
    pub ended_at: Vec<(usize, Instant)>,
}

type Script = dyn Fn(&mut Peer) + Send + Sync;
/// Given the client's `Sec-WebSocket-Extensions` offer (if any), the answer to send (if any).
type Extensions = dyn Fn(Option<&str>) -> Option<String> + Send + Sync;

struct Shared {
    stop: AtomicBool,
    accepted: AtomicUsize,
    record: Mutex<Record>,
    sockets: Mutex<Vec<TcpStream>>,
    script: Box<Script>,
    tls: Option<Arc<rustls::ServerConfig>>,
    extensions: Option<Box<Extensions>>,
}

/// A running loopback server.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A plain server on an ephemeral port running `script` for every client.
    pub fn plain(script: impl Fn(&mut Peer) + Send + Sync + 'static) -> TestServer {
        TestServer::start_on(0, None, script)
    }

    /// A TLS server presenting `cert`.
    pub fn tls(cert: &TestCert, script: impl Fn(&mut Peer) + Send + Sync + 'static) -> TestServer {
        TestServer::start_on(0, Some(cert), script)
    }

    /// A plain server that answers the extension offer with `answer(offer)` (the
    /// `Sec-WebSocket-Extensions` response value; `None` sends none). An answer naming
    /// permessage-deflate makes the peer compress its text messages accordingly.
    pub fn plain_with_extensions(
        answer: impl Fn(Option<&str>) -> Option<String> + Send + Sync + 'static,
        script: impl Fn(&mut Peer) + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start(0, None, Some(Box::new(answer)), script)
    }

    /// A server on `port` (0: ephemeral), TLS when `cert` is given.
    pub fn start_on(
        port: u16,
        cert: Option<&TestCert>,
        script: impl Fn(&mut Peer) + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start(port, cert, None, script)
    }

    fn start(
        port: u16,
        cert: Option<&TestCert>,
        extensions: Option<Box<Extensions>>,
        script: impl Fn(&mut Peer) + Send + Sync + 'static,
    ) -> TestServer {
        // The port may linger briefly after a kill; retry the bind for a while.
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
            }
        };
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            record: Mutex::new(Record::default()),
            sockets: Mutex::new(Vec::new()),
            script: Box::new(script),
            tls: cert.map(|c| c.server_config()),
            extensions,
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, s));
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `ws://127.0.0.1:PORT/path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port(), path)
    }

    /// `wss://localhost:PORT/path` (the test certificate names `localhost`).
    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://localhost:{}{}", self.port(), path)
    }

    /// Connections accepted so far (upgrades attempted).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Runs `f` on the record.
    pub fn record<R>(&self, f: impl FnOnce(&Record) -> R) -> R {
        f(&self.shared.record.lock().unwrap())
    }

    /// Frames the clients sent so far.
    pub fn frames(&self) -> Vec<ClientFrame> {
        self.record(|r| r.frames.clone())
    }

    /// Waits until `pred` holds for the record, or panics after `timeout`.
    pub fn wait_for(&self, timeout: Duration, what: &str, pred: impl Fn(&Record) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.record(&pred) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops accepting and drops every connection (RST/FIN to the clients).
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let index = shared.accepted.fetch_add(1, Ordering::SeqCst);
                stream.set_nonblocking(false).unwrap();
                stream.set_nodelay(true).unwrap();
                if let Ok(clone) = stream.try_clone() {
                    shared.sockets.lock().unwrap().push(clone);
                }
                let s = shared.clone();
                std::thread::spawn(move || serve(stream, index, s));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// A blocking byte stream: plain TCP or server-side TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn serve(tcp: TcpStream, index: usize, shared: Arc<Shared>) {
    let stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(cfg) => {
            let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                return;
            };
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
    };
    let mut peer = Peer {
        stream,
        index,
        shared: shared.clone(),
        pending: Vec::new(),
        path: String::new(),
        deflater: None,
    };
    if peer.upgrade().is_err() {
        return;
    }
    (shared.script)(&mut peer);
    // The kill list holds a clone of the socket, so dropping ours would not close it.
    let _ = peer.stream.tcp().shutdown(Shutdown::Both);
}

/// The server's side of one client connection, handed to the test's script.
pub struct Peer {
    stream: Stream,
    index: usize,
    shared: Arc<Shared>,
    /// Bytes read past the upgrade request.
    pending: Vec<u8>,
    /// The upgrade request's path and query.
    path: String,
    /// permessage-deflate as answered in the upgrade: text messages are compressed.
    deflater: Option<Deflater>,
}

impl Peer {
    /// Accept order of this connection (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The upgrade request's path and query (`/stream?streams=...`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn upgrade(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 64 * 1024 {
                return Err(io::ErrorKind::InvalidData.into());
            }
        };
        self.pending = buf[end..].to_vec();
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("")
            .to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let key = headers
            .iter()
            .find(|(k, _)| k == "sec-websocket-key")
            .map(|(_, v)| v.clone())
            .ok_or(io::ErrorKind::InvalidData)?;
        let offer = headers
            .iter()
            .find(|(k, _)| k == "sec-websocket-extensions")
            .map(|(_, v)| v.clone());
        let protocol = headers
            .iter()
            .find(|(k, _)| k == "sec-websocket-protocol")
            .and_then(|(_, v)| v.split(',').next().map(|p| p.trim().to_owned()));
        {
            let mut r = self.shared.record.lock().unwrap();
            r.paths.push(path.clone());
            r.headers.push(headers);
            r.accepted_at.push(Instant::now());
        }
        self.path = path;
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n"
        );
        if let Some(p) = protocol {
            resp.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        if let Some(answer) = self
            .shared
            .extensions
            .as_ref()
            .and_then(|f| f(offer.as_deref()))
        {
            self.deflater = Deflater::from_answer(&answer);
            resp.push_str(&format!("Sec-WebSocket-Extensions: {answer}\r\n"));
        }
        resp.push_str("\r\n");
        self.stream.write_all(resp.as_bytes())?;
        self.stream.flush()
    }

    /// Writes raw bytes straight to the TCP socket, under TLS if any (a TLS server sends the
    /// client a record it cannot decrypt).
    pub fn send_raw_tcp(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut tcp = self.stream.tcp();
        tcp.write_all(bytes)?;
        tcp.flush()
    }

    /// Sends a text frame and `trailing` raw bytes in one TCP write: under TLS the frame's
    /// records are encrypted first, then `trailing` follows them unencrypted (a good record
    /// and a bad one that arrive in the same read).
    pub fn send_text_then_raw_tcp(&mut self, text: &str, trailing: &[u8]) -> io::Result<()> {
        let mut frame = Vec::new();
        frame_into(&mut frame, 0x1, true, text.as_bytes());
        let mut bytes = Vec::new();
        match &mut self.stream {
            Stream::Plain(_) => bytes.extend_from_slice(&frame),
            Stream::Tls(s) => {
                s.conn.writer().write_all(&frame)?;
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut bytes)?;
                }
            }
        }
        bytes.extend_from_slice(trailing);
        let mut tcp = self.stream.tcp();
        tcp.write_all(&bytes)?;
        tcp.flush()
    }

    /// Half-closes the TCP connection: sends the FIN (no WebSocket close, no TLS
    /// close_notify) and keeps reading.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.tcp().shutdown(std::net::Shutdown::Write)
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends one unmasked frame.
    pub fn send_frame(&mut self, opcode: u8, fin: bool, payload: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 10);
        frame_into(&mut out, opcode, fin, payload);
        self.send_raw(&out)
    }

    /// Sends a text frame (compressed when permessage-deflate was answered).
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        let mut out = Vec::with_capacity(text.len() + 10);
        self.text_frame_into(&mut out, text.as_bytes());
        self.send_raw(&out)
    }

    /// Appends one text message frame, compressed (RSV1) when permessage-deflate is on.
    fn text_frame_into(&mut self, out: &mut Vec<u8>, text: &[u8]) {
        match self.deflater.as_mut() {
            Some(d) => {
                let c = d.message(text);
                frame_into(out, 1, true, &c);
                let first = out.len() - c.len() - header_len(c.len());
                out[first] |= 0x40;
            }
            None => frame_into(out, 1, true, text),
        }
    }

    /// Whether permessage-deflate was answered (text messages are compressed).
    pub fn deflating(&self) -> bool {
        self.deflater.is_some()
    }

    /// Compresses `data` as the next message of the negotiated permessage-deflate stream
    /// (panics if none was answered): the payload of a frame with RSV1.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        self.deflater
            .as_mut()
            .expect("permessage-deflate was not answered")
            .message(data)
    }

    /// Sends `data` as one compressed message cut into frames after the compressed bytes
    /// at `cuts` (RSV1 on the first frame only; `opcode` 1 text or 2 binary).
    pub fn send_compressed(&mut self, opcode: u8, data: &[u8], cuts: &[usize]) -> io::Result<()> {
        let c = self.compress(data);
        let mut out = Vec::new();
        let mut start = 0;
        let ends: Vec<usize> = cuts
            .iter()
            .map(|&e| e.min(c.len()))
            .chain([c.len()])
            .collect();
        for (i, &end) in ends.iter().enumerate() {
            let end = end.max(start);
            let first = out.len();
            frame_into(
                &mut out,
                if i == 0 { opcode } else { 0 },
                i + 1 == ends.len(),
                &c[start..end],
            );
            if i == 0 {
                out[first] |= 0x40;
            }
            start = end;
        }
        self.send_raw(&out)
    }

    /// Sends text frames `"0"`, `"1"`, ... (`first..first+n`) as fast as the socket takes
    /// them (compressed when permessage-deflate was answered).
    pub fn send_numbered(&mut self, first: u64, n: u64) -> io::Result<()> {
        // Written in 64 KiB batches.
        let mut batch = Vec::with_capacity(64 * 1024 + 64);
        for i in first..first + n {
            self.text_frame_into(&mut batch, i.to_string().as_bytes());
            if batch.len() >= 64 * 1024 {
                self.stream.write_all(&batch)?;
                batch.clear();
            }
        }
        self.stream.write_all(&batch)?;
        self.stream.flush()
    }

    /// Sends `parts` as one fragmented message (first text, then continuations).
    pub fn send_fragmented(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let op = if i == 0 { 1 } else { 0 };
            frame_into(&mut out, op, i + 1 == parts.len(), p);
        }
        self.send_raw(&out)
    }

    /// Sends a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_frame(9, true, payload)
    }

    /// Sends a close frame with `code`.
    pub fn send_close(&mut self, code: u16) -> io::Result<()> {
        self.send_frame(8, true, &code.to_be_bytes())
    }

    /// Reads one client frame (unmasking it) and records it. `None` on EOF, error or timeout.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<ClientFrame> {
        let _ = self.stream.tcp().set_read_timeout(Some(timeout));
        let mut head = [0u8; 2];
        self.read_exact(&mut head).ok()?;
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            self.read_exact(&mut b).ok()?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            self.read_exact(&mut b).ok()?;
            len = u64::from_be_bytes(b);
        }
        let mut mask = [0u8; 4];
        if masked {
            self.read_exact(&mut mask).ok()?;
        }
        let mut payload = vec![0u8; len as usize];
        self.read_exact(&mut payload).ok()?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i & 3];
            }
        }
        let frame = ClientFrame {
            conn: self.index,
            opcode,
            fin,
            payload,
            at: Instant::now(),
        };
        self.shared
            .record
            .lock()
            .unwrap()
            .frames
            .push(frame.clone());
        Some(frame)
    }

    fn read_exact(&mut self, out: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        if !self.pending.is_empty() {
            let n = self.pending.len().min(out.len());
            out[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            filled = n;
        }
        while filled < out.len() {
            let n = self.stream.read(&mut out[filled..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
        }
        Ok(())
    }

    /// Reads frames until the client closes, answering pings (if `answer_pings`) and close
    /// frames, recording everything. Returns when the connection ends or `limit` passes.
    pub fn serve(&mut self, answer_pings: bool, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.shared.stop.load(Ordering::SeqCst) {
                break;
            }
            match self.read_frame(left.min(Duration::from_millis(50))) {
                Some(f) if f.opcode == 9 && answer_pings => {
                    if self.send_frame(10, true, &f.payload).is_err() {
                        break;
                    }
                }
                Some(f) if f.opcode == 8 => {
                    let _ = self.send_frame(8, true, &f.payload);
                    break;
                }
                Some(_) => {}
                None => {
                    if self.is_closed() {
                        break;
                    }
                }
            }
        }
        self.shared
            .record
            .lock()
            .unwrap()
            .ended_at
            .push((self.index, Instant::now()));
    }

    /// Whether the client has gone (a zero-byte peek).
    fn is_closed(&mut self) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        let tcp = self.stream.tcp();
        let _ = tcp.set_nonblocking(true);
        let mut b = [0u8; 1];
        let closed = match tcp.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        };
        let _ = tcp.set_nonblocking(false);
        closed
    }

    /// Keeps the connection open without reading or writing for `d` (a silent server).
    pub fn go_silent(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline && !self.shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Header bytes [`frame_into`] writes for a payload of `n` bytes.
fn header_len(n: usize) -> usize {
    match n {
        0..126 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// A permessage-deflate sender (RFC 7692 section 7.2.1): raw deflate with a 2^bits window,
/// one stream across messages (context takeover) or a fresh one per message, each message
/// sync-flushed with its `00 00 ff ff` tail stripped.
pub struct Deflater {
    z: flate2::Compress,
    takeover: bool,
}

impl Deflater {
    /// A compressor with a 2^`window_bits` window (8 is compressed with 9: zlib has no raw
    /// 8-bit window; the client's inflater takes any).
    pub fn new(window_bits: u8, takeover: bool) -> Deflater {
        Deflater {
            z: flate2::Compress::new_with_window_bits(
                flate2::Compression::default(),
                false,
                window_bits.clamp(9, 15),
            ),
            takeover,
        }
    }

    /// The compressor a `Sec-WebSocket-Extensions` answer asks for, if it names
    /// permessage-deflate (`server_max_window_bits`, `server_no_context_takeover`).
    pub fn from_answer(answer: &str) -> Option<Deflater> {
        let mut parts = answer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            return None;
        }
        let (mut bits, mut takeover) = (15, true);
        for p in parts {
            if p == "server_no_context_takeover" {
                takeover = false;
            } else if let Some(v) = p.strip_prefix("server_max_window_bits=") {
                bits = v.trim_matches('"').parse().unwrap_or(15);
            }
        }
        Some(Deflater::new(bits, takeover))
    }

    /// The compressed payload of the next message.
    pub fn message(&mut self, data: &[u8]) -> Vec<u8> {
        if !self.takeover {
            self.z.reset();
        }
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start = self.z.total_in();
        loop {
            let done = (self.z.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(4096);
            }
            self.z
                .compress_vec(&data[done..], &mut out, flate2::FlushCompress::Sync)
                .expect("deflate");
            if (self.z.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        debug_assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len().saturating_sub(4));
        out
    }
}

/// Appends one unmasked frame to `out`.
pub fn frame_into(out: &mut Vec<u8>, opcode: u8, fin: bool, payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}
