//! The stage clock's calibration at engine start (a process of its own: the calibration is
//! once per process). `Engine::start` hands the calibration (a spin of up to 200 ms) to a
//! thread of its own; until it ends, stage stamps read the realtime clock, and after it
//! they are the TSC's — realtime stamps both ways.

use std::time::{Duration, Instant};

use tickwire_engine::clock::{self, now_ns, stage_clock_ready, stage_ns};
use tickwire_engine::{Engine, EngineConfig, Profile};

/// A stage stamp lies between two realtime reads around it (a margin for a preempted
/// thread far below what a wrong scale or anchor would give).
fn assert_stage_tells_realtime(what: &str) {
    for _ in 0..100 {
        let before = now_ns();
        let stage = stage_ns();
        let after = now_ns();
        assert!(
            stage + 20_000 >= before && stage <= after + 20_000,
            "{what}: {before} ≤ {stage} ≤ {after}"
        );
    }
}

#[test]
fn an_engine_with_stage_stamps_calibrates_the_clock_beside_its_start() {
    assert!(!stage_clock_ready(), "nothing calibrated it yet");
    // Without a calibration the stage clock is the realtime clock.
    assert_stage_tells_realtime("before calibration");

    let mut config = EngineConfig::profile(Profile::LowLatency);
    assert!(config.stage_histograms);
    config.shutdown_timeout = Duration::from_millis(200);
    let engine = Engine::builder(config).start().unwrap();

    // The calibration ends on its own thread (within its 200 ms bound; 10 s here for a
    // loaded machine).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stage_clock_ready() {
        assert!(
            Instant::now() < deadline,
            "the stage clock was never calibrated"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    clock::read_ns();
    assert_stage_tells_realtime("after calibration");
    // Across an anchor's renewal too.
    std::thread::sleep(Duration::from_millis(3));
    assert_stage_tells_realtime("after the anchor aged");
    drop(engine);
}
