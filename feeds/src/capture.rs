//! Reader for capture files of `<recv ns> <json frame>` lines (the hftbacktest format of
//! `shared/data`; `tickwire record` writes the same shape).
//!
//! The reader lends each frame mutably (simd-json parses in place) and reuses one line
//! buffer. Wrap a `.gz` file in `flate2::read::GzDecoder` and a `BufReader` first.

use std::io::BufRead;

/// Why a capture line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Reading failed.
    #[error("capture read failed: {0:?}")]
    Io(std::io::ErrorKind),
    /// The compressed data is damaged (flate2 reports bad deflate data or a gzip checksum
    /// mismatch as `InvalidInput` or `InvalidData`), at line `line` (1-based): nothing after
    /// it can be read, and a capture has no checksums of its own to tell which lines before
    /// it were damaged.
    #[error(
        "capture corrupt: the gzip data is damaged (bad deflate data or checksum) at line {line}"
    )]
    Corrupt {
        /// 1-based number of the line being read.
        line: u64,
    },
    /// Line `line` (1-based) is not `<ns> <frame>`.
    #[error("capture line {line} malformed")]
    Malformed {
        /// 1-based line number.
        line: u64,
    },
}

/// One capture line.
#[derive(Debug)]
pub struct CaptureLine<'a> {
    /// Receive time, ns since the UNIX epoch.
    pub recv_ns: u64,
    /// The frame as received.
    pub frame: &'a mut [u8],
    /// 1-based line number.
    pub line: u64,
}

/// Reads capture lines one at a time.
pub struct CaptureReader<R> {
    inner: R,
    buf: Vec<u8>,
    line: u64,
}

impl<R: BufRead> CaptureReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> CaptureReader<R> {
        CaptureReader {
            inner,
            buf: Vec::with_capacity(64 * 1024),
            line: 0,
        }
    }

    /// The next non-empty line, `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<CaptureLine<'_>, CaptureError>> {
        loop {
            self.buf.clear();
            match self.inner.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Err(match e.kind() {
                        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                            CaptureError::Corrupt {
                                line: self.line + 1,
                            }
                        }
                        k => CaptureError::Io(k),
                    }));
                }
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if !self.buf.is_empty() {
                break;
            }
        }
        let line = self.line;
        let malformed = CaptureError::Malformed { line };
        let Some(sp) = self.buf.iter().position(|&b| b == b' ') else {
            return Some(Err(malformed));
        };
        let (ts, rest) = self.buf.split_at_mut(sp);
        let recv_ns = match std::str::from_utf8(ts).ok().and_then(|s| s.parse().ok()) {
            Some(v) => v,
            None => return Some(Err(malformed)),
        };
        Some(Ok(CaptureLine {
            recv_ns,
            frame: &mut rest[1..],
            line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines() {
        let text = b"123 {\"a\":1}\n\n456 {\"b\":2}\r\nbad\nx {}\n";
        let mut r = CaptureReader::new(&text[..]);
        let l = r.next().unwrap().unwrap();
        assert_eq!((l.recv_ns, &*l.frame, l.line), (123, &b"{\"a\":1}"[..], 1));
        let l = r.next().unwrap().unwrap();
        assert_eq!((l.recv_ns, &*l.frame, l.line), (456, &b"{\"b\":2}"[..], 3));
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            CaptureError::Malformed { line: 4 }
        );
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            CaptureError::Malformed { line: 5 }
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn damaged_gzip_is_named_corrupt() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"1 {\"a\":1}\n2 {\"b\":2}\n").unwrap();
        let mut z = gz.finish().unwrap();
        let n = z.len();
        z[n - 8] ^= 0xff; // the gzip trailer's CRC-32
        let mut r = CaptureReader::new(std::io::BufReader::new(flate2::read::GzDecoder::new(
            &z[..],
        )));
        let mut last = None;
        while let Some(l) = r.next() {
            if let Err(e) = l {
                last = Some(e);
                break;
            }
        }
        let e = last.unwrap();
        assert!(matches!(e, CaptureError::Corrupt { .. }), "{e:?}");
        assert!(e.to_string().contains("checksum"));
    }
}
