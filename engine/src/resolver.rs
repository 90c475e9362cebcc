//! Name resolution off the I/O thread.
//!
//! `getaddrinfo` blocks, so the I/O thread never calls it. Host names go to one resolver
//! thread (spawned on first use) through a channel; it answers through another channel and
//! wakes the loop with the loop's `mio::Waker`, so even a blocking-poll loop picks the answer
//! up at once. Each request carries the connection slot and an attempt number, so an answer
//! for an attempt that was abandoned meanwhile (timeout, removal) is recognised and dropped.
//! IP literals never reach the resolver (see [`literal`]).
//!
//! The resolver thread is detached on shutdown: a `getaddrinfo` stuck on a dead DNS server
//! must not hold up `Engine::join`. It exits when its request channel closes.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

/// Why a host could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The lookup failed or returned no address.
    #[error("name resolution failed")]
    NotFound,
    /// The resolver thread could not be started or has gone.
    #[error("resolver unavailable")]
    Unavailable,
}

/// The address of an IP literal host, if it is one.
pub fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

struct Request {
    slot: usize,
    attempt: u64,
    host: String,
    port: u16,
}

/// An answer from the resolver thread.
pub struct Answer {
    /// Connection slot that asked.
    pub slot: usize,
    /// The attempt number it asked for.
    pub attempt: u64,
    /// Addresses, in the order the system returned them.
    pub result: Result<Vec<SocketAddr>, ResolveError>,
}

/// The I/O thread's side of the resolver.
pub struct Resolver {
    waker: Arc<mio::Waker>,
    channel: Option<(Sender<Request>, Receiver<Answer>)>,
    pending: usize,
}

impl Resolver {
    /// A resolver that wakes the loop through `waker`. Spawns nothing yet.
    pub fn new(waker: Arc<mio::Waker>) -> Resolver {
        Resolver {
            waker,
            channel: None,
            pending: 0,
        }
    }

    /// Asks for `host:port` on behalf of `slot`'s attempt `attempt`.
    pub fn request(
        &mut self,
        slot: usize,
        attempt: u64,
        host: &str,
        port: u16,
    ) -> Result<(), ResolveError> {
        if self.channel.is_none() {
            self.channel = Some(self.spawn()?);
        }
        let (tx, _) = self.channel.as_ref().ok_or(ResolveError::Unavailable)?;
        tx.send(Request {
            slot,
            attempt,
            host: host.to_owned(),
            port,
        })
        .map_err(|_| ResolveError::Unavailable)?;
        self.pending += 1;
        Ok(())
    }

    /// The next answer, if one is waiting. Costs nothing when no request is outstanding.
    #[inline]
    pub fn poll(&mut self) -> Option<Answer> {
        if self.pending == 0 {
            return None;
        }
        let (_, rx) = self.channel.as_ref()?;
        match rx.try_recv() {
            Ok(a) => {
                self.pending -= 1;
                Some(a)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = 0;
                None
            }
        }
    }

    /// Requests not yet answered.
    pub fn pending(&self) -> usize {
        self.pending
    }

    fn spawn(&self) -> Result<(Sender<Request>, Receiver<Answer>), ResolveError> {
        let (req_tx, req_rx) = mpsc::channel::<Request>();
        let (ans_tx, ans_rx) = mpsc::channel::<Answer>();
        let waker = self.waker.clone();
        std::thread::Builder::new()
            .name("tickwire-resolver".into())
            .spawn(move || {
                while let Ok(req) = req_rx.recv() {
                    let result = match (req.host.as_str(), req.port).to_socket_addrs() {
                        Ok(addrs) => {
                            let v: Vec<SocketAddr> = addrs.collect();
                            if v.is_empty() {
                                Err(ResolveError::NotFound)
                            } else {
                                Ok(v)
                            }
                        }
                        Err(_) => Err(ResolveError::NotFound),
                    };
                    let answer = Answer {
                        slot: req.slot,
                        attempt: req.attempt,
                        result,
                    };
                    if ans_tx.send(answer).is_err() {
                        break;
                    }
                    let _ = waker.wake();
                }
            })
            .map_err(|_| ResolveError::Unavailable)?;
        Ok((req_tx, ans_rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn literals_skip_the_resolver() {
        assert_eq!(
            literal("127.0.0.1", 80),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(literal("::1", 443), Some("[::1]:443".parse().unwrap()));
        assert_eq!(literal("localhost", 80), None);
    }

    #[test]
    fn resolves_localhost_and_wakes_the_loop() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(7)).unwrap());
        let mut r = Resolver::new(waker);
        assert!(r.poll().is_none());
        r.request(3, 9, "localhost", 8080).unwrap();
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            if let Some(a) = r.poll() {
                break a;
            }
            assert!(Instant::now() < deadline, "no answer");
        };
        assert_eq!((answer.slot, answer.attempt), (3, 9));
        let addrs = answer.result.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
        assert_eq!(r.pending(), 0);
    }
}
