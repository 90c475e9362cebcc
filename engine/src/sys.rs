//! OS-specific pieces: socket options and CPU pinning.
//!
//! This is the one module allowed `unsafe`; it currently needs none, because `socket2` and
//! `core_affinity` expose safe APIs for everything the engine does.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Socket options applied before connecting (buffer sizes must precede the handshake for TCP
/// window scaling to take them into account).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `SO_RCVBUF`, if set.
    pub recv_buffer: Option<usize>,
    /// `SO_SNDBUF`, if set.
    pub send_buffer: Option<usize>,
}

/// Starts a non-blocking TCP connect to `addr` with `TCP_NODELAY` and the given buffer sizes.
/// The connect completes later: wait for writability, then check [`connect_result`].
pub fn connect(addr: SocketAddr, opts: SocketOptions) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_tcp_nodelay(true)?;
    if let Some(n) = opts.recv_buffer {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.send_buffer {
        socket.set_send_buffer_size(n)?;
    }
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

fn in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}

/// Whether a non-blocking connect finished, after a writable (or error) event:
/// `Ok(true)` connected, `Ok(false)` still in progress (spurious wake-up), `Err` failed.
/// (The recipe from mio's `TcpStream::connect` docs.)
pub fn connect_result(stream: &mio::net::TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The receive buffer size the kernel actually granted (Linux doubles the request).
pub fn recv_buffer_size(stream: &mio::net::TcpStream) -> io::Result<usize> {
    socket2::SockRef::from(stream).recv_buffer_size()
}

/// Why the I/O thread could not be pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The core id is not among the cores this process may use.
    #[error("core {0} is not available")]
    NoSuchCore(usize),
    /// The OS refused the affinity change.
    #[error("setting the affinity to core {0} failed")]
    Refused(usize),
}

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: usize) -> Result<(), PinError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let id = cores
        .into_iter()
        .find(|c| c.id == core)
        .ok_or(PinError::NoSuchCore(core))?;
    if core_affinity::set_for_current(id) {
        Ok(())
    } else {
        Err(PinError::Refused(core))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_with_options_to_a_loopback_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = connect(
            addr,
            SocketOptions {
                recv_buffer: Some(256 * 1024),
                send_buffer: None,
            },
        )
        .unwrap();
        let _peer = listener.accept().unwrap();
        // Loopback connects complete at once; poll briefly in case they do not.
        let mut done = false;
        for _ in 0..1000 {
            if connect_result(&stream).unwrap() {
                done = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(done);
        assert!(stream.nodelay().unwrap());
        assert!(recv_buffer_size(&stream).unwrap() >= 256 * 1024);
    }

    #[test]
    fn refused_connect_reports_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let r = connect(addr, SocketOptions::default()).and_then(|s| {
            for _ in 0..1000 {
                if connect_result(&s)? {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(())
        });
        assert!(r.is_err());
    }

    #[test]
    fn pinning_to_a_missing_core_fails() {
        assert_eq!(
            pin_current_thread(100_000),
            Err(PinError::NoSuchCore(100_000))
        );
    }
}
