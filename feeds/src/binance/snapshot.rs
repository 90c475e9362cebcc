//! REST depth snapshots on a helper thread (ureq + rustls), never on the I/O thread.
//!
//! [`RestSnapshots`] implements [`SnapshotSource`]: `request` queues the instrument for the
//! helper thread, which fetches `GET /api/v3/depth` (spot) or `/fapi/v1/depth` (USD-M),
//! parses it with [`parse_depth_snapshot`] and sends the result back; `poll` picks results up
//! without blocking.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread;
use std::time::Duration;

use tickwire_engine::adapter::{BookSnapshot, SnapshotError, SnapshotSource};
use tickwire_engine::{InstrumentId, Registry};

use super::config::BinanceConfig;
use super::decode::parse_depth_snapshot;

type Reply = (InstrumentId, Result<BookSnapshot, SnapshotError>);

/// Snapshots fetched over REST by a helper thread.
pub struct RestSnapshots {
    requests: Sender<InstrumentId>,
    replies: Receiver<Reply>,
    /// Requests the helper thread can no longer take (it ended): answered as closed.
    failed: Vec<InstrumentId>,
    /// A source made with [`RestSnapshots::deferred`] whose thread is not started yet.
    deferred: Option<Deferred>,
}

/// What a deferred source needs to start its thread.
struct Deferred {
    config: BinanceConfig,
    registry: Registry,
    roots: Vec<Vec<u8>>,
}

impl RestSnapshots {
    /// Starts the helper thread for the instruments of `symbols` (upper case) on `config`'s
    /// market, interned in `registry`.
    pub fn spawn(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
    ) -> std::io::Result<RestSnapshots> {
        RestSnapshots::spawn_with_roots(config, registry, symbols, &[])
    }

    /// As [`RestSnapshots::spawn`], trusting `roots` (DER certificates, e.g. a simulator's
    /// self-signed one) for HTTPS. With roots given, exactly those are trusted; with none, the
    /// webpki roots are.
    pub fn spawn_with_roots(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
    ) -> std::io::Result<RestSnapshots> {
        let (requests, replies) = RestSnapshots::start(config, registry, symbols, roots)?;
        Ok(RestSnapshots {
            requests,
            replies,
            failed: Vec::new(),
            deferred: None,
        })
    }

    /// A source for a feed with no book yet: the helper thread starts when a book is first
    /// tracked or requested (a depth channel subscribed at run time), not before.
    pub fn deferred(
        config: &BinanceConfig,
        registry: &Registry,
        roots: &[Vec<u8>],
    ) -> RestSnapshots {
        // Channels nobody serves until the thread starts.
        let (requests, _) = mpsc::channel();
        let (_, replies) = mpsc::channel();
        RestSnapshots {
            requests,
            replies,
            failed: Vec::new(),
            deferred: Some(Deferred {
                config: config.clone(),
                registry: registry.clone(),
                roots: roots.to_vec(),
            }),
        }
    }

    /// Starts a deferred source's thread (once).
    fn start_deferred(&mut self) {
        let Some(d) = self.deferred.take() else {
            return;
        };
        if let Ok((requests, replies)) = RestSnapshots::start(&d.config, &d.registry, &[], &d.roots)
        {
            self.requests = requests;
            self.replies = replies;
        }
        // Else the dead channels answer every request as closed (retried later).
    }

    /// Spawns the helper thread. Instruments not among `symbols` (books subscribed later)
    /// are fetched by their registry name when it is of this market's venue.
    fn start(
        config: &BinanceConfig,
        registry: &Registry,
        symbols: &[&str],
        roots: &[Vec<u8>],
    ) -> std::io::Result<(Sender<InstrumentId>, Receiver<Reply>)> {
        let tls = if roots.is_empty() {
            ureq::tls::TlsConfig::default()
        } else {
            let certs: Vec<ureq::tls::Certificate<'static>> = roots
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build()
        };
        let venue = config.market.venue();
        let urls: HashMap<InstrumentId, String> = symbols
            .iter()
            .map(|s| {
                let s = s.to_ascii_uppercase();
                (registry.intern(venue, &s), config.snapshot_url(&s))
            })
            .collect();
        let time_unit = config.time_unit;
        let (config, registry) = (config.clone(), registry.clone());
        let (req_tx, req_rx) = mpsc::channel::<InstrumentId>();
        let (rep_tx, rep_rx) = mpsc::channel::<Reply>();
        thread::Builder::new()
            .name("tickwire-snapshots".into())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .tls_config(tls)
                    .timeout_global(Some(Duration::from_secs(15)))
                    .build()
                    .into();
                let mut urls = urls;
                while let Ok(instrument) = req_rx.recv() {
                    if let std::collections::hash_map::Entry::Vacant(slot) = urls.entry(instrument)
                    {
                        // A book subscribed at run time: its symbol is in the registry.
                        if let Some(name) = registry.name(instrument) {
                            if &*name.venue == venue {
                                slot.insert(config.snapshot_url(&name.symbol));
                            }
                        }
                    }
                    let result = match urls.get(&instrument) {
                        None => Err(SnapshotError::Request),
                        Some(url) => fetch(&agent, url).and_then(|mut body| {
                            parse_depth_snapshot(&mut body, instrument, time_unit)
                                .map_err(|_| SnapshotError::Malformed)
                        }),
                    };
                    if rep_tx.send((instrument, result)).is_err() {
                        break;
                    }
                }
            })?;
        Ok((req_tx, rep_rx))
    }
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, SnapshotError> {
    let mut resp = agent.get(url).call().map_err(|_| SnapshotError::Request)?;
    resp.body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|_| SnapshotError::Request)
}

impl SnapshotSource for RestSnapshots {
    fn track(&mut self, instrument: InstrumentId) {
        let _ = instrument;
        self.start_deferred();
    }

    fn request(&mut self, instrument: InstrumentId) {
        self.start_deferred();
        if self.requests.send(instrument).is_err() {
            self.failed.push(instrument);
        }
    }

    fn poll(&mut self) -> Option<(InstrumentId, Result<BookSnapshot, SnapshotError>)> {
        if let Some(i) = self.failed.pop() {
            return Some((i, Err(SnapshotError::Closed)));
        }
        match self.replies.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => None,
        }
    }
}
