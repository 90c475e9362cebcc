//! What a timestamp costs (issue 13: the profile of `bench --url` put clock reads at about
//! 9.5 % of the I/O thread; the engine stamps each socket read and each message's decode).
//!
//! `engine/now_ns`: the engine's clock (`CLOCK_REALTIME` through the vDSO, as ns since the
//! epoch), against `std/Instant::now` (`CLOCK_MONOTONIC`, vDSO) and `quanta/raw` (the TSC
//! read, `rdtsc`, before any scaling) and `quanta/now` (TSC scaled to a monotonic time by
//! quanta's calibration). A TSC clock would still have to be anchored to the realtime
//! clock and re-anchored as NTP slews it, since receive stamps are compared with the
//! venues' and other processes' times: the raw read is the floor of what it could save.
//! `engine/stage_ns` is that anchored clock, which the I/O thread's stage stamps now use.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};

fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("engine/now_ns", |b| {
        b.iter(|| black_box(tickwire_engine::clock::now_ns()))
    });
    // The I/O thread's stage stamps since issue 13: the socket read's realtime stamp plus
    // the TSC interval since (re-anchored by a realtime read once a millisecond here).
    tickwire_engine::clock::init_stage_clock();
    tickwire_engine::clock::read_ns();
    g.bench_function("engine/stage_ns", |b| {
        b.iter(|| black_box(tickwire_engine::clock::stage_ns()))
    });
    g.bench_function("std/Instant::now", |b| b.iter(|| black_box(Instant::now())));
    let q = quanta::Clock::new();
    g.bench_function("quanta/raw", |b| b.iter(|| black_box(q.raw())));
    g.bench_function("quanta/now", |b| b.iter(|| black_box(q.now())));
    g.finish();
}

criterion_group!(benches, clocks);
criterion_main!(benches);
