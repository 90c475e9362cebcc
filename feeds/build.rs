//! Sets `cfg(sse_scan)` where the build targets x86-64 with SSSE3 and SSE4.1 enabled (as
//! `-C target-cpu=native` does on any recent x86 machine): the Binance scanner then compiles
//! its SSE parts (`binance::scan::simd`), elsewhere its SWAR ones. One name for the
//! condition instead of the three-part `cfg` at every place that depends on it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sse_scan)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);
    if arch == "x86_64" && has("ssse3") && has("sse4.1") {
        println!("cargo::rustc-cfg=sse_scan");
    }
}
