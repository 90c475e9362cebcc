//! Inline consumers (`tickwire_engine::inline`): what the I/O thread pays to hand one
//! message's events (a run of 25, a depth diff's worth) to a consumer.
//!
//! * `dyn-call`: the consumer called directly through `Box<dyn InlineConsumer>`;
//! * `dyn-call+catch_unwind`: the same inside `std::panic::catch_unwind`, as the engine calls
//!   it (the difference is the price of surviving a panicking consumer);
//! * `publisher/inline`: the whole path, `Publisher::publish_all` to an inline consumer
//!   (stage stamps off: the run is lent as is);
//! * `publisher/inline+stamps`: the same with stage stamps on (the run is copied, stamped);
//! * `publisher/ring`: `publish_all` to a ring, drained on the same thread (no hand-off to
//!   another core: the ring's own cost only).
//!
//! The consumer sums a field of every event so the call cannot be optimized away.

use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickwire_engine::handler::Publisher;
use tickwire_engine::ring::{channel, inline};
use tickwire_engine::{Event, InlineConsumer, InstrumentId, Status, StatusKind};

const RUN: usize = 25;

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

/// Sums the events' sequence numbers.
struct Sum(u64);

impl InlineConsumer for Sum {
    #[inline(never)]
    fn on_events(&mut self, events: &[Event]) {
        for e in events {
            self.0 = self.0.wrapping_add(e.seq);
        }
    }
}

fn bench(c: &mut Criterion) {
    let run: Vec<Event> = (0..RUN as u64).map(ev).collect();
    let mut g = c.benchmark_group("inline/run-of-25");
    g.throughput(Throughput::Elements(RUN as u64));

    let mut direct: Box<dyn InlineConsumer> = Box::new(Sum(0));
    g.bench_function("dyn-call", |b| {
        b.iter(|| black_box(&mut direct).on_events(black_box(&run)))
    });
    let mut guarded: Box<dyn InlineConsumer> = Box::new(Sum(0));
    g.bench_function("dyn-call+catch_unwind", |b| {
        b.iter(|| {
            let c = black_box(&mut guarded);
            let r = catch_unwind(AssertUnwindSafe(|| c.on_events(black_box(&run))));
            black_box(r.is_ok())
        })
    });

    let (p, _handle) = inline(Sum(0));
    let mut publisher = Publisher::new(vec![p]);
    g.bench_function("publisher/inline", |b| {
        b.iter(|| {
            publisher.begin_message();
            publisher.publish_all(black_box(&run));
        })
    });
    let (p, _handle) = inline(Sum(0));
    let mut stamped = Publisher::new(vec![p]);
    stamped.set_stage_stamps(true);
    g.bench_function("publisher/inline+stamps", |b| {
        b.iter(|| {
            stamped.begin_message();
            stamped.publish_all(black_box(&run));
        })
    });
    let (p, mut consumer) = channel(4096);
    let mut ringed = Publisher::new(vec![p]);
    let mut sum = 0u64;
    g.bench_function("publisher/ring", |b| {
        b.iter(|| {
            ringed.begin_message();
            ringed.publish_all(black_box(&run));
            consumer.drain(usize::MAX, |e| {
                sum = sum.wrapping_add(e.seq);
                true
            });
        })
    });
    black_box(sum);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
