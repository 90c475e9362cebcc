//! End to end through the engine on loopback: a server thread writes small numbered text
//! frames, the I/O thread decodes them and publishes one `Event` each, and the bench thread
//! pops them from the consumer ring. Measures time per message (throughput), per idle
//! strategy. The connection is set up once; each sample asks the server for `iters` more.

use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickwire_engine::config::{ConnectionConfig, EngineConfig, IdleStrategy, Profile};
use tickwire_engine::engine::Engine;
use tickwire_tests::handlers::SeqHandler;
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

/// Messages requested from the server at a time.
const CHUNK: u64 = 8192;
/// Most messages in flight (requested, not yet consumed).
const WINDOW: u64 = 4 * CHUNK;

fn bench_profile(c: &mut Criterion, name: &str, config: EngineConfig) {
    let (tx, rx) = mpsc::channel::<u64>();
    let rx = Arc::new(Mutex::new(rx));
    let server = TestServer::plain(move |peer| {
        let mut next = 0;
        while let Ok(n) = rx.lock().unwrap().recv() {
            peer.send_numbered(next, n).unwrap();
            next += n;
        }
    });
    let mut b = Engine::builder(config);
    let (cid, mut consumer) = b.consumer(1 << 16);
    let engine = b.start().unwrap();
    let cfg = ConnectionConfig::new(&server.ws_url("/"))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(SeqHandler::new(&[]).0), &[cid])
        .unwrap();
    // Wait for the Connected status.
    let deadline = Instant::now() + Duration::from_secs(10);
    while consumer.pop().is_none() {
        assert!(Instant::now() < deadline, "no connection");
        std::thread::yield_now();
    }
    let mut g = c.benchmark_group("engine_loopback");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            // Credit-based flow control keeps at most WINDOW messages in flight, below the
            // ring's capacity, so the consumer never drops and every message is counted.
            let start = Instant::now();
            let mut requested = 0;
            while requested < iters.min(WINDOW) {
                let k = CHUNK.min(iters - requested);
                tx.send(k).unwrap();
                requested += k;
            }
            let mut got = 0;
            while got < iters {
                match consumer.pop() {
                    Some(_) => {
                        got += 1;
                        if got % CHUNK == 0 && requested < iters {
                            let k = CHUNK.min(iters - requested);
                            tx.send(k).unwrap();
                            requested += k;
                        }
                    }
                    None => std::thread::yield_now(),
                }
            }
            start.elapsed()
        })
    });
    g.finish();
    drop(tx);
    let stats = engine.join().unwrap();
    assert_eq!(
        stats.dropped_events, 0,
        "the ring overflowed: numbers are invalid"
    );
}

fn benches(c: &mut Criterion) {
    bench_profile(c, "blocking", EngineConfig::profile(Profile::Standard));
    let spin = EngineConfig {
        idle: IdleStrategy::SpinThenYield { spins: 0 },
        ..EngineConfig::profile(Profile::LowLatency)
    };
    bench_profile(c, "spin_then_yield", spin);
}

criterion_group!(
    name = loopback;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = benches
);
criterion_main!(loopback);
