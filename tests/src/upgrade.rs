//! A hostile HTTP-upgrade server: it accepts TCP connections and answers each upgrade
//! request with whatever the test's responder says (a refusal with `Retry-After`, a 101 with
//! an extension never offered, nothing at all), recording when each connection arrived.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server does with one connection.
pub enum Answer {
    /// Close the TCP connection as soon as it is accepted, reading nothing.
    CloseAtOnce,
    /// Read the upgrade request, write these bytes, then close.
    Respond(Vec<u8>),
    /// Read the upgrade request, write these bytes, keep the connection open until the
    /// server stops (the client may use it as a WebSocket).
    RespondAndHold(Vec<u8>),
}

type Responder = dyn Fn(usize, &str) -> Answer + Send + Sync;

/// A running hostile upgrade server on loopback.
pub struct UpgradeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

/// A valid 101 response for `request` (the accept key derived from its key) with `extra`
/// header lines (each ending in CRLF).
pub fn switching_protocols(request: &str, extra: &str) -> Vec<u8> {
    let key = request
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    )
    .into_bytes()
}

impl UpgradeServer {
    /// Starts a server that asks `responder(index, request_head)` what to do with each
    /// connection (index: accept order, 0-based). It is asked first with an empty head,
    /// before anything is read: answer [`Answer::CloseAtOnce`] there to close at once.
    pub fn start(responder: impl Fn(usize, &str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let responder: Arc<Responder> = Arc::new(responder);
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = {
                            let mut a = a.lock().unwrap();
                            a.push(Instant::now());
                            a.len() - 1
                        };
                        if let Some(keep) = answer(stream, index, &*responder) {
                            held.push(keep);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            for h in held {
                let _ = h.shutdown(Shutdown::Both);
            }
        });
        UpgradeServer {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// `wss://127.0.0.1:PORT{path}` (the server never speaks TLS: a TLS client times out).
    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://{}{path}", self.addr)
    }

    /// When each connection was accepted, in order.
    pub fn accepted(&self) -> Vec<Instant> {
        self.accepted.lock().unwrap().clone()
    }
}

/// Serves one connection; returns it when it is to be held open.
fn answer(mut stream: TcpStream, index: usize, responder: &Responder) -> Option<TcpStream> {
    stream.set_nonblocking(false).ok()?;
    // Asked first with no request, so that CloseAtOnce closes before reading anything.
    if let Answer::CloseAtOnce = responder(index, "") {
        let _ = stream.shutdown(Shutdown::Both);
        return None;
    }
    let head = read_head(&mut stream).ok()?;
    match responder(index, &head) {
        Answer::CloseAtOnce => {
            let _ = stream.shutdown(Shutdown::Both);
            None
        }
        Answer::Respond(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.shutdown(Shutdown::Both);
            None
        }
        Answer::RespondAndHold(bytes) => {
            let _ = stream.write_all(&bytes);
            Some(stream)
        }
    }
}

/// Reads up to the end of the request's header block (at most 64 KiB, 5 s).
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 64 * 1024 {
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

impl Drop for UpgradeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
