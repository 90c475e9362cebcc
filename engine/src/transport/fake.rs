//! A scripted socket for tests (transport and connection machine): reads answered from a
//! script (an empty script blocks), writes taken a few bytes a call or up to a budget. The
//! script is shared (`Rc<RefCell<_>>`) so a test keeps feeding it after handing the socket
//! over.

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

/// One scripted answer to a read.
pub(crate) enum Step {
    Data(Vec<u8>),
    Block,
    Fail(io::ErrorKind),
    Eof,
}

/// What a test scripts and sees of one socket.
#[derive(Default)]
pub(crate) struct Script {
    pub(crate) reads: VecDeque<Step>,
    pub(crate) written: Vec<u8>,
    /// Most bytes one write takes (`Some(0)`: writes block).
    pub(crate) write_cap: Option<usize>,
    /// Bytes writes may still take in all before they block (`None`: unlimited).
    pub(crate) write_budget: Option<usize>,
    /// Every write fails so.
    pub(crate) write_fail: Option<io::ErrorKind>,
    /// Answers to a connection's connect check, in order (then: connected).
    pub(crate) connect: VecDeque<io::Result<bool>>,
}

impl Script {
    /// Queues `bytes` one byte a read, each followed by a `WouldBlock`.
    pub(crate) fn trickle(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.reads.push_back(Step::Data(vec![*b]));
            self.reads.push_back(Step::Block);
        }
    }
}

/// The socket side of a [`Script`].
#[derive(Default)]
pub(crate) struct FakeSocket(pub(crate) Rc<RefCell<Script>>);

impl FakeSocket {
    pub(crate) fn script(&self) -> RefMut<'_, Script> {
        self.0.borrow_mut()
    }
}

impl Read for FakeSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.script();
        match s.reads.pop_front() {
            None | Some(Step::Block) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Step::Fail(k)) => Err(k.into()),
            Some(Step::Eof) => {
                s.reads.push_front(Step::Eof);
                Ok(0)
            }
            Some(Step::Data(mut d)) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                if n < d.len() {
                    s.reads.push_front(Step::Data(d.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for FakeSocket {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut s = self.script();
        if let Some(k) = s.write_fail {
            return Err(k.into());
        }
        let n = [s.write_cap, s.write_budget]
            .into_iter()
            .flatten()
            .fold(data.len(), usize::min);
        if n == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if let Some(b) = s.write_budget.as_mut() {
            *b -= n;
        }
        s.written.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
