//! The byte pipe under a WebSocket: a non-blocking mio `TcpStream`, optionally wrapped in a
//! rustls `ClientConnection`.
//!
//! The helpers move bytes between the socket, TLS and the connection's own buffers and stop at
//! `WouldBlock`; the connection calls them until they do (mio's draining rule). Nothing here
//! allocates except rustls itself: its buffered API keeps one `Vec` per received TLS record, so
//! the TLS receive path allocates per record while the plain path allocates nothing.

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::config::ConfigError;
use crate::reason::Reason;

/// Why the transport failed. `Copy`: nothing is built on the failure path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A socket error.
    #[error("socket error: {0:?}")]
    Io(io::ErrorKind),
    /// The peer closed the stream.
    #[error("stream closed by peer")]
    Eof,
    /// TLS failed: which way, as a [`Reason`] (`Tls` for a handshake failure other than
    /// the certificate, a `Cert*` reason for a rejected certificate, `TlsRecord` for a bad
    /// record or a fatal alert after the handshake).
    #[error("tls error ({})", .0.name())]
    Tls(Reason),
}

impl TransportError {
    /// The reason a connection reports for this error (`Io` for socket errors and EOF).
    pub const fn reason(&self) -> Reason {
        match self {
            TransportError::Tls(r) => *r,
            TransportError::Io(_) | TransportError::Eof => Reason::Io,
        }
    }
}

/// Names what rustls rejected: the certificate's problem, else a handshake failure (before
/// the handshake completed) or a record failure (after it).
fn tls_failure(e: &rustls::Error, handshaking: bool) -> TransportError {
    use rustls::CertificateError as C;
    let reason = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => Reason::CertExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => Reason::CertNotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => Reason::CertWrongName,
            C::UnknownIssuer => Reason::CertUnknownIssuer,
            _ => Reason::CertInvalid,
        },
        rustls::Error::NoCertificatesPresented => Reason::CertInvalid,
        _ if handshaking => Reason::Tls,
        _ => Reason::TlsRecord,
    };
    TransportError::Tls(reason)
}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        TransportError::Io(e.kind())
    }
}

/// The socket under a connection, beyond reading and writing: how it is opened, whether
/// its connect completed, and its place in the poller. The engine's is mio's non-blocking
/// `TcpStream`; the connection tests script their own (partial reads, `WouldBlock` and
/// errors at every step), so the whole connection machine runs without a network.
pub(crate) trait Socket: Read + Write + Sized {
    /// Starts a non-blocking connect to `addr`.
    fn connect(addr: std::net::SocketAddr, opts: crate::sys::SocketOptions) -> io::Result<Self>;
    /// Whether the connect completed (`Ok(false)`: still in flight).
    fn connect_result(&self) -> io::Result<bool>;
    /// Registers with the poller under `token`, readable and writable.
    fn register(&mut self, reg: &mio::Registry, token: mio::Token) -> io::Result<()>;
    /// Leaves the poller.
    fn deregister(&mut self, reg: &mio::Registry);
}

impl Socket for mio::net::TcpStream {
    fn connect(addr: std::net::SocketAddr, opts: crate::sys::SocketOptions) -> io::Result<Self> {
        crate::sys::connect(addr, opts)
    }

    fn connect_result(&self) -> io::Result<bool> {
        crate::sys::connect_result(self)
    }

    fn register(&mut self, reg: &mio::Registry, token: mio::Token) -> io::Result<()> {
        reg.register(
            self,
            token,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
    }

    fn deregister(&mut self, reg: &mio::Registry) {
        let _ = reg.deregister(self);
    }
}

/// Result of one read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes were written to the front of the buffer.
    Data(usize),
    /// Nothing more until the next readiness event.
    WouldBlock,
}

/// A connected (or connecting) stream, plain or TLS, over a byte stream `S`: the engine's
/// non-blocking socket, or in tests a scripted one (partial reads, `WouldBlock`, errors at
/// any step). Any `Read + Write` whose `WouldBlock` means "not now" will do.
pub struct Transport<S = mio::net::TcpStream> {
    stream: S,
    tls: Option<Box<ClientConnection>>,
    /// A TLS failure found while plaintext decrypted before it was still to be read: that
    /// plaintext goes out first, then this.
    failed: Option<TransportError>,
}

impl<S: Read + Write> Transport<S> {
    /// A plain `ws://` transport.
    pub fn plain(stream: S) -> Transport<S> {
        Transport {
            stream,
            tls: None,
            failed: None,
        }
    }

    /// A `wss://` transport; the handshake runs in [`Transport::handshake`].
    pub fn tls(
        stream: S,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Transport<S>, TransportError> {
        let conn = ClientConnection::new(config, server_name)
            .map_err(|_| TransportError::Tls(Reason::Tls))?;
        Ok(Transport {
            stream,
            tls: Some(Box::new(conn)),
            failed: None,
        })
    }

    /// The socket, for registering with the poller.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The socket.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Whether this transport runs TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Advances the TLS handshake as far as the socket allows. `Ok(true)` once it is complete
    /// (always, for plain transports).
    pub fn handshake(&mut self) -> Result<bool, TransportError> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(true);
        };
        loop {
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            if tls.wants_write() {
                // The socket is full; the writable event brings us back.
                return Ok(false);
            }
            match tls.read_tls(&mut self.stream) {
                Ok(0) => return Err(TransportError::Eof),
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Send the alert rustls queued, best effort.
                        let _ = tls.write_tls(&mut self.stream);
                        return Err(tls_failure(&e, true));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads decrypted bytes into `buf` (non-empty). Call until it returns `WouldBlock`.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, TransportError> {
        match self.tls.as_deref_mut() {
            None => match self.stream.read(buf) {
                Ok(0) => Err(TransportError::Eof),
                Ok(n) => Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.read(buf),
                Err(e) => Err(e.into()),
            },
            Some(tls) => {
                if let Some(e) = self.failed.take() {
                    // What was decrypted before the failure, then the failure.
                    return match tls.reader().read(buf) {
                        Ok(n @ 1..) => {
                            self.failed = Some(e);
                            Ok(ReadOutcome::Data(n))
                        }
                        _ => Err(e),
                    };
                }
                tls_read(tls, &mut self.stream, buf, &mut self.failed)
            }
        }
    }

    /// Whether a read that returned fewer bytes than asked for left nothing in the socket
    /// (plain TCP). Not so under TLS, whose reads are shaped by records and rustls' buffer.
    #[inline]
    pub fn short_read_drains(&self) -> bool {
        self.tls.is_none()
    }

    /// Writes as much of `data` as the socket (or TLS buffer) takes; returns how much.
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        match self.tls.as_deref_mut() {
            None => match self.stream.write(data) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
                Err(e) => Err(e.into()),
            },
            Some(tls) => {
                let n = tls.writer().write(data)?;
                tls_flush(tls, &mut self.stream)?;
                Ok(n)
            }
        }
    }

    /// Pushes buffered TLS records to the socket. `Ok(true)` when nothing is left buffered.
    #[inline]
    pub fn flush(&mut self) -> Result<bool, TransportError> {
        match self.tls.as_deref_mut() {
            None => Ok(true),
            Some(tls) => tls_flush(tls, &mut self.stream),
        }
    }

    /// Queues a TLS close_notify (if TLS) and tries to send it.
    pub fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            let _ = tls_flush(tls, &mut self.stream);
        }
    }
}

fn tls_flush<S: Write>(tls: &mut ClientConnection, stream: &mut S) -> Result<bool, TransportError> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn tls_read<S: Read + Write>(
    tls: &mut ClientConnection,
    stream: &mut S,
    buf: &mut [u8],
    failed: &mut Option<TransportError>,
) -> Result<ReadOutcome, TransportError> {
    loop {
        // Plaintext already decrypted goes first.
        match tls.reader().read(buf) {
            Ok(0) => return Err(TransportError::Eof), // close_notify received
            Ok(n) => return Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(TransportError::Eof),
            Err(e) => return Err(e.into()),
        }
        match tls.read_tls(stream) {
            Ok(0) => {
                // Socket EOF: let rustls decide between close_notify and truncation.
                if let Err(e) = tls.process_new_packets() {
                    return Err(tls_failure(&e, tls.is_handshaking()));
                }
                match tls.reader().read(buf) {
                    Ok(n) if n > 0 => return Ok(ReadOutcome::Data(n)),
                    _ => return Err(TransportError::Eof),
                }
            }
            Ok(_) => {
                if let Err(e) = tls.process_new_packets() {
                    let _ = tls.write_tls(stream);
                    let e = tls_failure(&e, tls.is_handshaking());
                    // Records before the bad one were decrypted: deliver them, then fail.
                    if let Ok(n @ 1..) = tls.reader().read(buf) {
                        *failed = Some(e);
                        return Ok(ReadOutcome::Data(n));
                    }
                    return Err(e);
                }
                if tls.wants_write() {
                    // Key updates and the like: answer them now, best effort.
                    tls_flush(tls, stream)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The rustls client configuration for a connection: webpki roots plus `extra_roots` (DER),
/// ring crypto provider. Connections without extra roots share one cached configuration.
pub fn client_config(extra_roots: &[Arc<[u8]>]) -> Result<Arc<ClientConfig>, ConfigError> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if extra_roots.is_empty() {
        if let Some(c) = DEFAULT.get() {
            return Ok(c.clone());
        }
        let c = build_config(&[])?;
        return Ok(DEFAULT.get_or_init(|| c).clone());
    }
    build_config(extra_roots)
}

fn build_config(extra_roots: &[Arc<[u8]>]) -> Result<Arc<ClientConfig>, ConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.to_vec()))
            .map_err(|_| ConfigError::RootCert)?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|_| ConfigError::RootCert)?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS server name (SNI and certificate check) for `host`: a DNS name or an IP literal.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConfigError> {
    ServerName::try_from(host.to_owned()).map_err(|_| ConfigError::ServerName)
}

#[cfg(test)]
pub(crate) mod fake;

#[cfg(test)]
mod fake_socket_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_shared_and_names_parse() {
        let a = client_config(&[]).unwrap();
        let b = client_config(&[]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(server_name("stream.binance.com").is_ok());
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert_eq!(
            client_config(&[Arc::from(&b"not a cert"[..])]).err(),
            Some(ConfigError::RootCert)
        );
    }

    #[test]
    fn tls_failures_name_their_cause() {
        use rustls::CertificateError as C;
        let cert = |c: C| tls_failure(&rustls::Error::InvalidCertificate(c), true).reason();
        assert_eq!(cert(C::Expired), Reason::CertExpired);
        assert_eq!(cert(C::NotValidYet), Reason::CertNotYetValid);
        assert_eq!(cert(C::NotValidForName), Reason::CertWrongName);
        assert_eq!(cert(C::UnknownIssuer), Reason::CertUnknownIssuer);
        assert_eq!(cert(C::BadSignature), Reason::CertInvalid);
        assert!(cert(C::Expired).is_certificate());
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(tls_failure(&alert, true).reason(), Reason::Tls);
        assert!(!Reason::Tls.is_certificate());
        assert_eq!(
            tls_failure(&rustls::Error::DecryptError, false).reason(),
            Reason::TlsRecord
        );
        assert_eq!(TransportError::Eof.reason(), Reason::Io);
        for r in [
            Reason::CertExpired,
            Reason::TlsRecord,
            Reason::UpgradeClosed,
        ] {
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn plain_read_write_round_trip() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = mio::net::TcpStream::connect(addr).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut t = Transport::plain(stream);
        assert!(t.handshake().unwrap());
        let mut buf = [0u8; 16];
        // Nothing sent yet.
        let mut spins = 0;
        while !matches!(crate::sys::connect_result(t.stream()), Ok(true)) && spins < 1000 {
            std::thread::sleep(std::time::Duration::from_millis(1));
            spins += 1;
        }
        assert_eq!(t.read(&mut buf).unwrap(), ReadOutcome::WouldBlock);
        peer.write_all(b"hello").unwrap();
        let mut got = Vec::new();
        for _ in 0..1000 {
            match t.read(&mut buf).unwrap() {
                ReadOutcome::Data(n) => got.extend_from_slice(&buf[..n]),
                ReadOutcome::WouldBlock => {
                    if got.len() == 5 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        assert_eq!(got, b"hello");
        assert_eq!(t.write(b"back").unwrap(), 4);
        let mut r = [0u8; 4];
        peer.read_exact(&mut r).unwrap();
        assert_eq!(&r, b"back");
        drop(peer);
        let mut eof = false;
        for _ in 0..1000 {
            match t.read(&mut buf) {
                Err(TransportError::Eof) => {
                    eof = true;
                    break;
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        assert!(eof);
    }
}
