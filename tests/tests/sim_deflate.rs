//! `tickwire sim --deflate` and a feed offering permessage-deflate, end to end: the books
//! sync and data flows over compressed frames, with several times fewer bytes on the wire
//! than the same feed uncompressed; a client that offers nothing, or a simulator without
//! `--deflate`, runs uncompressed.

use std::time::{Duration, Instant};

use tickwire_engine::event::{EventKind, StatusKind};
use tickwire_engine::ws::DeflateOffer;
use tickwire_engine::{ConnectionOptions, Engine, EngineConfig, Profile, Registry};
use tickwire_feeds::binance::{BinanceFeed, Channel, DepthSpeed, Market};
use tickwire_tools::sim::{Market as SimMarket, SimConfig, SimServer};

/// Runs a spot feed against the simulator until 2,000 messages have arrived; returns the
/// engine's bytes received per message.
fn bytes_per_message(sim_deflate: bool, offer: bool) -> f64 {
    let mut sc = SimConfig::new(SimMarket::Spot);
    sc.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into()];
    sc.rate = 4_000;
    sc.deflate = sim_deflate;
    let sim = SimServer::start(sc).unwrap();
    let mut b = Engine::builder(EngineConfig::profile(Profile::Standard));
    let (cid, mut consumer) = b.consumer(1 << 17);
    let engine = b.start().unwrap();
    let registry = Registry::new();
    let feed = BinanceFeed::new(Market::Spot)
        .symbols(&["BTCUSDT", "ETHUSDT"])
        .channels(&[Channel::Trade, Channel::Depth(DepthSpeed::Ms100)])
        .url(&sim.ws_url())
        .rest_url(&sim.rest_url())
        .options(ConnectionOptions {
            deflate: offer.then(DeflateOffer::default),
            ..ConnectionOptions::default()
        });
    feed.start(&engine.handle(), &registry, &[cid]).unwrap();
    let (mut trades, mut levels, mut connected, mut bad) = (0u64, 0u64, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while trades < 200 || levels < 2_000 || connected == 0 {
        assert!(
            Instant::now() < deadline,
            "{trades} trades, {levels} levels"
        );
        while let Some(e) = consumer.pop() {
            match e.kind() {
                EventKind::Trade => trades += 1,
                EventKind::BookLevel => levels += 1,
                EventKind::Status => match e.as_status().map(|s| s.kind) {
                    Some(StatusKind::Connected) => connected += 1,
                    Some(StatusKind::DecodeError | StatusKind::Gap | StatusKind::Disconnected) => {
                        bad += 1
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    engine.handle().shutdown();
    let stats = engine.join().unwrap();
    assert_eq!(bad, 0, "decode errors, gaps or disconnects");
    assert_eq!(stats.protocol_errors.total(), 0);
    assert_eq!(connected, 1);
    stats.bytes_received as f64 / stats.messages as f64
}

#[test]
fn the_simulator_compresses_when_offered() {
    let plain = bytes_per_message(true, false);
    let compressed = bytes_per_message(true, true);
    let declined = bytes_per_message(false, true);
    eprintln!("bytes a message: plain {plain:.0}, deflate {compressed:.0}, declined {declined:.0}");
    // Depth messages compress several times over with context takeover; uncompressed runs
    // are alike whether nothing was offered or the offer was declined.
    assert!(compressed * 2.0 < plain, "{compressed} vs {plain}");
    assert!(
        declined > plain * 0.7 && declined < plain * 1.4,
        "{declined} vs {plain}"
    );
}
