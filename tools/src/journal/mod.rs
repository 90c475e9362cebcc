//! Journals: what `tickwire record` writes and `tickwire replay` reads.
//!
//! A journal holds everything a feed handler was given on the I/O thread — every raw
//! message with its receive time and connection, the REST book snapshots where the handler
//! received them, and each session's start and end — so a replay runs the same adapters,
//! book syncs and resyncs and publishes the same events ([`replayer`]). Recording copies each
//! message into a ring on the I/O thread and leaves the disk to a writer thread
//! ([`recorder`]).
//!
//! # Format, version 2
//!
//! A stream of gzip members (`tickwire record` writes the header line as one member and each
//! block as one member; replay also reads the same bytes uncompressed, e.g. after `zcat`):
//!
//! ```text
//! tickwire-journal 2 venue=binance streams=btcusdt@depth@100ms,btcusdt@trade tool=0.1.0 started=1723161255000000000
//! block 1 4 2310 9f1c02ab
//! connect 1723161255001000000 1 33 btcusdt@depth@100ms,btcusdt@trade
//! text 1723161255101234567 1 187 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate",...}}
//! snapshot 1723161255301000000 1 2041 {"symbol":"BTCUSDT","lastUpdateId":50093239218,"exchange_ts":0,"bids":[["61837.6","0.5"],...],"asks":[...]}
//! disconnect 1723161259000000000 1 2 io
//! block 5 ...
//! ```
//!
//! * **Header line**: `tickwire-journal <version> key=value ...` — `venue` (`binance` or
//!   `binance-usdm`), `streams` (every stream recorded, comma-separated), `tool` (version of
//!   the writer), `started` (ns since the UNIX epoch). Readers skip keys they do not know.
//! * **Blocks**: `block <first> <count> <length> <crc>\n` then `<length>` bytes holding
//!   `<count>` records, the first numbered `<first>` (1-based, over the whole journal).
//!   `<crc>` is the CRC-32 (IEEE, 8 lower-case hex digits) of the block line up to and
//!   including the space before it, followed by the records. A block is closed at about
//!   64 KiB of records or when the writer flushes (about once a second). The reader checks a
//!   block before handing out any of its records; on a mismatch (or a cut) it skips to the
//!   next block that checks out and reports the stretch skipped: the records lost (from the
//!   block numbers) and the bytes. Nothing unverified is handed out.
//! * **Records**: `<kind> <time ns> <connection> <length> <payload>\n`, fields separated by
//!   one space, numbers in decimal ASCII. The payload is exactly `<length>` bytes, any bytes
//!   at all (newlines included); the newline after it closes the record. JSON frames stay
//!   readable with `zcat`.
//!
//! Version 1 (still read) is the same without blocks: the records follow the header line
//! directly, in one gzip stream, with nothing to verify them by; replay says so.
//!
//! | kind | time | payload |
//! |---|---|---|
//! | `connect` | session start (the `on_connect` callback) | the connection's streams, comma-separated |
//! | `text` / `binary` | receive time of the socket read | the message, as received (before decoding) |
//! | `snapshot` | when the handler received it | `{"symbol":S,"lastUpdateId":N,"exchange_ts":NS,"bids":[["p","q"],..],"asks":[..]}` — the REST book as the handler got it, decimals as the venue wrote them |
//! | `snapshot_error` | when the handler received it | `{"symbol":S,"error":"request"\|"malformed"\|"closed"\|"status"\|"rate_limited"}`, plus `"status":N` and `"retry_after_ms":N` where they apply |
//! | `disconnect` | session end | the reason's name (`io`, `pong_timeout`, `too_big`, `invalid_utf8`, `server_shutdown`, ...) |
//! | `lost` | time of the connection's last record before the loss | how many records the recorder dropped there (its ring was full) |
//!
//! Records of one connection are in the order the I/O thread saw them; records of several
//! connections are merged by time. Connection ids are the engine's.

pub mod format;
pub mod recorder;
pub mod replayer;

pub use format::{Header, JournalError, JournalReader, JournalWriter, Kind, Record};
pub use recorder::{
    BoxedHandler, BoxedSnapshots, JournalSink, Recorder, SnapshotTap, TeeSnapshots, WriterStats,
    spawn_writer,
};
pub use replayer::{Format, Replay, ReplayError, ReplayOptions, Step, Summary};
