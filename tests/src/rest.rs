//! A hostile loopback REST server for book snapshots: answers each `GET` from a per-test
//! script (status, headers, body, and how fast the body trickles out), records every request.
//!
//! One thread per connection; every answer carries `Connection: close`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct RestRequest {
    /// Path and query (`/api/v3/depth?symbol=BTCUSDT&limit=5000`).
    pub path: String,
    /// When its request line was read.
    pub at: Instant,
}

impl RestRequest {
    /// The `symbol` query parameter, if any.
    pub fn symbol(&self) -> Option<&str> {
        let q = self.path.split_once('?')?.1;
        q.split('&').find_map(|kv| kv.strip_prefix("symbol="))
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
pub struct RestReply {
    /// HTTP status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Pause between body bytes (`None`: all at once).
    pub byte_delay: Option<Duration>,
    /// Pause before answering at all.
    pub delay: Duration,
}

impl RestReply {
    /// `200 OK` with a JSON body.
    pub fn ok(body: impl Into<Vec<u8>>) -> RestReply {
        RestReply::status(200, body)
    }

    /// Any status with a body.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> RestReply {
        RestReply {
            status,
            headers: Vec::new(),
            body: body.into(),
            byte_delay: None,
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> RestReply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends the body one byte per `delay`.
    #[must_use]
    pub fn trickle(mut self, delay: Duration) -> RestReply {
        self.byte_delay = Some(delay);
        self
    }

    /// Waits `delay` before answering.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> RestReply {
        self.delay = delay;
        self
    }
}

/// A Binance-shaped depth snapshot body: `{"lastUpdateId":N,"bids":[..],"asks":[..]}`.
pub fn depth_body(last_id: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> String {
    let side = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, q)| format!(r#"["{p}","{q}"]"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"lastUpdateId":{last_id},"bids":[{}],"asks":[{}]}}"#,
        side(bids),
        side(asks)
    )
}

type Script = dyn Fn(&RestRequest, usize) -> RestReply + Send + Sync;

struct Shared {
    stop: AtomicBool,
    requests: Mutex<Vec<RestRequest>>,
    script: Box<Script>,
}

/// A running loopback REST server.
pub struct RestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl RestServer {
    /// Starts a server answering request number `n` (0-based, over all connections) with
    /// `script(request, n)`.
    pub fn start(
        script: impl Fn(&RestRequest, usize) -> RestReply + Send + Sync + 'static,
    ) -> RestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            script: Box::new(script),
        });
        let sh = shared.clone();
        let accept = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let sh = sh.clone();
                        std::thread::spawn(move || {
                            let _ = serve(stream, &sh);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        RestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RestRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, sh: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    // Skip the headers.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let req = RestRequest {
        path,
        at: Instant::now(),
    };
    let n = {
        let mut r = sh.requests.lock().unwrap_or_else(|e| e.into_inner());
        r.push(req.clone());
        r.len() - 1
    };
    let reply = (sh.script)(&req, n);
    std::thread::sleep(reply.delay);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    match reply.byte_delay {
        None => out.write_all(&reply.body)?,
        Some(d) => {
            for b in &reply.body {
                if sh.stop.load(Ordering::Acquire) {
                    break;
                }
                out.write_all(std::slice::from_ref(b))?;
                out.flush()?;
                std::thread::sleep(d);
            }
        }
    }
    out.flush()
}

/// WebSocket script: streams a Binance spot diff every `every` for each depth stream the
/// upgrade path names (`/stream?streams=btcusdt@depth@100ms/...`), update ids `first_id`,
/// `first_id + 1`, ... (one id per diff, top of book 100.0 / 101.0), until the client goes or
/// `limit` passes.
pub fn stream_depth_diffs(
    peer: &mut crate::server::Peer,
    first_id: u64,
    every: Duration,
    limit: Duration,
) {
    let streams: Vec<String> = peer
        .path()
        .split_once("streams=")
        .map(|(_, s)| s.split('&').next().unwrap_or(""))
        .unwrap_or("")
        .split('/')
        .filter(|s| s.contains("@depth"))
        .map(str::to_owned)
        .collect();
    let end = Instant::now() + limit;
    let mut id = first_id;
    while Instant::now() < end {
        for stream in &streams {
            let symbol = stream.split('@').next().unwrap_or("").to_ascii_uppercase();
            let msg = format!(
                r#"{{"stream":"{stream}","data":{{"e":"depthUpdate","E":1,"s":"{symbol}","U":{id},"u":{id},"b":[["100.0","1"]],"a":[["101.0","1"]]}}}}"#
            );
            if peer.send_text(&msg).is_err() {
                return;
            }
        }
        id += 1;
        std::thread::sleep(every);
    }
}

/// CPU time (user + system) the thread of this process named `name` has used so far, from
/// `/proc/self/task/<tid>/stat` (Linux; `None` elsewhere or when no thread has that name).
pub fn thread_cpu(name: &str) -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the command (which ends at the last ')'): state is field 3; utime and
        // stime are fields 14 and 15, in clock ticks (USER_HZ: 100 on Linux).
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        return Some(Duration::from_millis(ticks * 10));
    }
    None
}

/// Threads of this process named `name` (Linux `/proc/self/task`; 0 elsewhere).
pub fn threads_named(name: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}
