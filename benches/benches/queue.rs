//! SPSC ring choice for event delivery: rtrb vs crossbeam-queue's `ArrayQueue`, moving the
//! real 64-byte `Event` between two threads.
//!
//! `transfer`: a producer thread pushes N events (spinning on full), the measuring thread pops
//! them; time per event. `pingpong`: one event out and one back, so the round trip includes
//! the cache-line hand-offs both ways (the latency a consumer sees, twice).
//! `tickwire-ring/runs-of-25`: the engine's own ring wrapper moving one message's worth of
//! events at a time, event by event versus `push_slice`/`drain` (what the engine and the
//! bench consumer do).

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_queue::ArrayQueue;
use tickwire_engine::{Event, InstrumentId, Status, StatusKind};

const CAP: usize = 4096;

fn ev(i: u64) -> Event {
    Event::status(
        InstrumentId(1),
        Status {
            kind: StatusKind::Connected,
            reason: 0,
            value: i,
            connection: 1,
        },
        i,
    )
}

fn transfer_rtrb(n: u64) -> Duration {
    let (mut p, mut c) = rtrb::RingBuffer::<Event>::new(CAP);
    let t = thread::spawn(move || {
        for i in 0..n {
            let mut e = ev(i);
            while let Err(rtrb::PushError::Full(back)) = p.push(e) {
                e = back;
                std::hint::spin_loop();
            }
        }
    });
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        if let Ok(e) = c.pop() {
            black_box(e);
            got += 1;
        } else {
            std::hint::spin_loop();
        }
    }
    let d = start.elapsed();
    let _ = t.join();
    d
}

fn transfer_arrayqueue(n: u64) -> Duration {
    let q = Arc::new(ArrayQueue::<Event>::new(CAP));
    let qp = q.clone();
    let t = thread::spawn(move || {
        for i in 0..n {
            let mut e = ev(i);
            while let Err(back) = qp.push(e) {
                e = back;
                std::hint::spin_loop();
            }
        }
    });
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        if let Some(e) = q.pop() {
            black_box(e);
            got += 1;
        } else {
            std::hint::spin_loop();
        }
    }
    let d = start.elapsed();
    let _ = t.join();
    d
}

fn pingpong_rtrb(n: u64) -> Duration {
    let (mut p1, mut c1) = rtrb::RingBuffer::<Event>::new(CAP);
    let (mut p2, mut c2) = rtrb::RingBuffer::<Event>::new(CAP);
    let t = thread::spawn(move || {
        for _ in 0..n {
            let e = loop {
                if let Ok(e) = c1.pop() {
                    break e;
                }
                std::hint::spin_loop();
            };
            let _ = p2.push(e);
        }
    });
    let start = Instant::now();
    for i in 0..n {
        let _ = p1.push(ev(i));
        loop {
            if let Ok(e) = c2.pop() {
                black_box(e);
                break;
            }
            std::hint::spin_loop();
        }
    }
    let d = start.elapsed();
    let _ = t.join();
    d
}

fn pingpong_arrayqueue(n: u64) -> Duration {
    let a = Arc::new(ArrayQueue::<Event>::new(CAP));
    let b = Arc::new(ArrayQueue::<Event>::new(CAP));
    let (a2, b2) = (a.clone(), b.clone());
    let t = thread::spawn(move || {
        for _ in 0..n {
            let e = loop {
                if let Some(e) = a2.pop() {
                    break e;
                }
                std::hint::spin_loop();
            };
            let _ = b2.push(e);
        }
    });
    let start = Instant::now();
    for i in 0..n {
        let _ = a.push(ev(i));
        loop {
            if let Some(e) = b.pop() {
                black_box(e);
                break;
            }
            std::hint::spin_loop();
        }
    }
    let d = start.elapsed();
    let _ = t.join();
    d
}

/// Events of one depth message (mdload averages 25 levels).
const RUN: usize = 25;

/// tickwire's ring in runs of `RUN`, event by event (`push`/`pop`) or as whole runs
/// (`push_slice`/`drain`: one publication of the position per run or batch). The producer
/// waits for room for a whole run, so nothing is dropped.
fn transfer_ring(n: u64, batched: bool) -> Duration {
    let (mut p, mut c) = tickwire_engine::ring::channel(CAP);
    let runs = n.div_ceil(RUN as u64);
    let total = runs * RUN as u64;
    let t = thread::spawn(move || {
        let mut run = [ev(0); RUN];
        for r in 0..runs {
            for (i, e) in run.iter_mut().enumerate() {
                e.seq = r * RUN as u64 + i as u64;
            }
            while p.slots() < RUN {
                std::hint::spin_loop();
            }
            if batched {
                p.push_slice(&run, |e| e);
            } else {
                for e in run {
                    p.push(e);
                }
            }
        }
    });
    let start = Instant::now();
    let mut got = 0;
    while got < total {
        let before = got;
        if batched {
            got += c.drain(usize::MAX, |e| {
                black_box(e.seq);
                true
            }) as u64;
        } else {
            while let Some(e) = c.pop() {
                black_box(e.seq);
                got += 1;
            }
        }
        if got == before {
            std::hint::spin_loop();
        }
    }
    let d = start.elapsed();
    let _ = t.join();
    // Per requested iteration (event): scale the extra of the last partial run away.
    d.mul_f64(n as f64 / total as f64)
}

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_transfer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rtrb", |b| b.iter_custom(transfer_rtrb));
    g.bench_function("arrayqueue", |b| b.iter_custom(transfer_arrayqueue));
    g.bench_function("tickwire-ring/runs-of-25/per-event", |b| {
        b.iter_custom(|n| transfer_ring(n, false))
    });
    g.bench_function("tickwire-ring/runs-of-25/batched", |b| {
        b.iter_custom(|n| transfer_ring(n, true))
    });
    g.finish();
    let mut g = c.benchmark_group("spsc_pingpong");
    g.bench_function("rtrb", |b| b.iter_custom(pingpong_rtrb));
    g.bench_function("arrayqueue", |b| b.iter_custom(pingpong_arrayqueue));
    g.finish();
}

criterion_group!(benches, queue);
criterion_main!(benches);
