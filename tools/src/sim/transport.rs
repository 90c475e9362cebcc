//! A non-blocking server socket, plain or TLS (rustls), as one byte pipe.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

/// The connection's byte pipe.
pub struct Transport {
    sock: TcpStream,
    tls: Option<Box<ServerConnection>>,
    rbuf: Box<[u8]>,
}

impl Transport {
    /// Wraps an accepted socket (made non-blocking, Nagle off); TLS when `tls` is given.
    pub fn new(sock: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Transport> {
        sock.set_nonblocking(true)?;
        sock.set_nodelay(true)?;
        let tls = match tls {
            Some(cfg) => Some(Box::new(
                ServerConnection::new(cfg.clone()).map_err(io::Error::other)?,
            )),
            None => None,
        };
        Ok(Transport {
            sock,
            tls,
            rbuf: vec![0; 64 * 1024].into_boxed_slice(),
        })
    }

    /// The socket's descriptor, to wait on.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Appends readable bytes to `buf`: `Ok(0)` when the peer closed, `WouldBlock` when
    /// nothing is there yet.
    pub fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            let n = self.sock.read(&mut self.rbuf)?;
            buf.extend_from_slice(&self.rbuf[..n]);
            return Ok(n);
        };
        loop {
            match tls.reader().read(&mut self.rbuf) {
                Ok(n) => {
                    buf.extend_from_slice(&self.rbuf[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if tls.read_tls(&mut self.sock)? == 0 {
                return Ok(0);
            }
            let state = tls.process_new_packets();
            // Handshake replies and alerts go out even if the packets were bad.
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            state.map_err(io::Error::other)?;
        }
    }

    /// Writes a prefix of `data`; returns how much was taken (`WouldBlock` if none).
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.write(data);
        }
        self.flush()?;
        let Some(tls) = self.tls.as_mut() else {
            return Ok(0);
        };
        let n = tls.writer().write(data)?;
        match self.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Pushes buffered TLS records to the socket (`WouldBlock` if some remain).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                tls.write_tls(&mut self.sock)?;
            }
        }
        Ok(())
    }

    /// True while TLS records wait to be written.
    pub fn pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Ends TLS cleanly (close_notify, best effort); nothing for plain TCP.
    pub fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = self.flush();
        }
    }

    /// Closes the TCP connection at once (no WebSocket close, no TLS close_notify).
    pub fn abort(&self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}
