//! REST depth snapshots over HTTPS from a server whose certificate is trusted explicitly (the
//! simulator's self-signed one), on a helper thread: a [`SnapshotSource`] for TLS tests.
//! (`tickwire_feeds::binance::RestSnapshots` trusts the webpki roots only.)

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tickwire_engine::InstrumentId;
use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_feeds::binance::{TimeUnit, parse_depth_snapshot};

type Reply = (InstrumentId, Result<BookSnapshot, SnapshotError>);

/// See the module docs.
pub struct TlsRestSnapshots {
    requests: Sender<InstrumentId>,
    replies: Receiver<Reply>,
}

impl TlsRestSnapshots {
    /// Fetches `paths[instrument]` (e.g. `/api/v3/depth?symbol=BTCUSDT&limit=5000`) from
    /// `addr`, trusting `root_der` for the name `localhost`.
    pub fn spawn(
        addr: SocketAddr,
        root_der: &[u8],
        paths: HashMap<InstrumentId, String>,
    ) -> TlsRestSnapshots {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(root_der.to_vec()))
            .expect("root certificate");
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
        );
        let (req_tx, req_rx) = mpsc::channel::<InstrumentId>();
        let (rep_tx, rep_rx) = mpsc::channel::<Reply>();
        std::thread::spawn(move || {
            while let Ok(instrument) = req_rx.recv() {
                let result = match paths.get(&instrument) {
                    None => Err(SnapshotError::Request),
                    Some(path) => get(addr, &config, path).and_then(|mut body| {
                        parse_depth_snapshot(&mut body, instrument, TimeUnit::Millisecond)
                            .map_err(|_| SnapshotError::Malformed)
                    }),
                };
                if rep_tx.send((instrument, result)).is_err() {
                    return;
                }
            }
        });
        TlsRestSnapshots {
            requests: req_tx,
            replies: rep_rx,
        }
    }
}

fn get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<Vec<u8>, SnapshotError> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|_| SnapshotError::Request)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|_| SnapshotError::Request)?;
    let name = ServerName::try_from("localhost").map_err(|_| SnapshotError::Request)?;
    let conn =
        rustls::ClientConnection::new(config.clone(), name).map_err(|_| SnapshotError::Request)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .map_err(|_| SnapshotError::Request)?;
    let mut resp = Vec::new();
    tls.read_to_end(&mut resp)
        .map_err(|_| SnapshotError::Request)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(SnapshotError::Malformed)?;
    if !resp.starts_with(b"HTTP/1.1 200") {
        return Err(SnapshotError::Request);
    }
    Ok(resp[split + 4..].to_vec())
}

impl SnapshotSource for TlsRestSnapshots {
    fn request(&mut self, instrument: InstrumentId) {
        let _ = self.requests.send(instrument);
    }

    fn poll(&mut self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }
}
