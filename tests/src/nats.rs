//! A real `nats-server` with JetStream on a free loopback port, one per test: the Debian
//! package's binary (`apt-get install nats-server`; `.ci/run` installs it), started with its
//! store in a temporary directory, so a test can SIGKILL it and start it again on the same
//! port and store.
//!
//! Tests that need it call [`NatsServer::start`]: where the binary cannot be found it prints
//! why and returns `None` (the test skips), unless `TICKWIRE_REQUIRE_NATS=1` (set by CI),
//! which turns the skip into a failure.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the binary is looked for: `$TICKWIRE_NATS_SERVER`, then `PATH`, then `/usr/sbin`
/// and `/usr/bin` (Debian puts it in `/usr/sbin`, which a non-root `PATH` may lack).
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TICKWIRE_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            "/usr/sbin".into(),
            "/usr/bin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|d: PathBuf| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Whether CI asked for the NATS tests to fail rather than skip.
pub fn required() -> bool {
    std::env::var("TICKWIRE_REQUIRE_NATS").is_ok_and(|v| v == "1")
}

/// A running (or killed) `nats-server`.
pub struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "tickwire-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

impl NatsServer {
    /// Starts a server with JetStream, or `None` (after saying why) where there is no
    /// binary and `TICKWIRE_REQUIRE_NATS` is not `1`.
    pub fn start() -> Option<NatsServer> {
        NatsServer::start_with(&[])
    }

    /// As [`NatsServer::start`], with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Option<NatsServer> {
        let Some(binary) = binary() else {
            assert!(
                !required(),
                "TICKWIRE_REQUIRE_NATS=1 but no nats-server binary (apt-get install nats-server)"
            );
            eprintln!(
                "SKIPPED: nats-server not found (apt-get install nats-server, or set \
                 TICKWIRE_NATS_SERVER); CI sets TICKWIRE_REQUIRE_NATS=1 to fail instead"
            );
            return None;
        };
        let mut s = NatsServer {
            binary,
            child: None,
            port: free_port(),
            dir: temp_dir("nats"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.launch();
        Some(s)
    }

    fn launch(&mut self) {
        let store = self.dir.join("store");
        let log = self.dir.join("server.log");
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        wait_ready(self.port, &log);
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (store and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILLs the server (no clean shutdown: what it has not written is lost).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the server answers with an INFO line that says JetStream is on.
fn wait_ready(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("INFO ") {
                if line.contains("\"jetstream\":true") {
                    // JetStream answers API requests once the log says the server is ready.
                    if std::fs::read_to_string(log).is_ok_and(|l| l.contains("Server is ready")) {
                        return;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut text = String::new();
    let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
    panic!("nats-server on port {port} not ready within 20 s; log:\n{text}");
}
