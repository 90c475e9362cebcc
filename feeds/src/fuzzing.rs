//! Bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), kept here so unit tests run the
//! very same checks over generated inputs. Each panics when a property fails.

use tickwire_engine::adapter::DecodeStats;
use tickwire_engine::{Decimal, InstrumentId, Registry};

use crate::binance::{Decoder, Symbols, TimeUnit, parse_depth_snapshot};
use crate::jsonl::JsonLines;

/// `decimal_parse`: the fast and general parsers agree on every input, and every parsed
/// value renders to text that parses back to the same mantissa and scale.
pub fn decimal_parse(data: &[u8]) {
    let fast = Decimal::parse(data);
    let slow = Decimal::parse_slow(data);
    let parts = |d: Decimal| (d.mantissa(), d.scale());
    assert_eq!(fast.map(parts), slow.map(parts), "{data:?}");
    if let Ok(d) = fast {
        let text = d.to_string();
        let back = Decimal::parse(text.as_bytes()).map(parts);
        assert_eq!(back, Ok(parts(d)), "{text}");
        // Ordering is consistent with equality across scales.
        if let Ok(n) = d.rescale(tickwire_engine::decimal::MAX_SCALE) {
            assert_eq!(n, d);
        }
    }
}

/// `binance_decode`: the hand scanner and the simd-json path agree on every input (result,
/// events, counters), with the latency probe on (milliseconds) and off (microseconds);
/// nothing panics, including formatting the events and parsing the input as a REST
/// snapshot.
pub fn binance_decode(data: &[u8]) {
    for (unit, probe) in [
        (TimeUnit::Millisecond, true),
        (TimeUnit::Microsecond, false),
    ] {
        let registry = Registry::new();
        let run = |fast: bool, registry: Registry| {
            let mut d = Decoder::new(Symbols::interning("binance", registry), unit, probe);
            d.set_fast_scan(fast);
            let mut buf = data.to_vec();
            let mut out = Vec::new();
            let r = d.decode(&mut buf, 1, &mut out);
            let stats = DecodeStats {
                fast_path: 0,
                ..d.stats()
            };
            (r, out, stats)
        };
        let fast = run(true, registry.clone());
        let slow = run(false, Registry::new());
        assert_eq!(
            fast,
            slow,
            "{:?} ({unit:?}, probe {probe})",
            String::from_utf8_lossy(data)
        );
        let mut lines = JsonLines::new(registry, "binance");
        let mut text = Vec::new();
        for e in &fast.1 {
            lines.write(e, &mut text);
        }
    }
    let mut buf = data.to_vec();
    let _ = parse_depth_snapshot(&mut buf, InstrumentId(0), TimeUnit::Millisecond);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn decimal_parse_body(data in proptest::collection::vec(any::<u8>(), 0..24)) {
            super::decimal_parse(&data);
        }

        #[test]
        fn decimal_parse_body_on_numeric_text(s in "[-+]?[0-9]{0,20}[.]?[0-9]{0,20}([eE][-+]?[0-9]{1,4})?") {
            super::decimal_parse(s.as_bytes());
        }

        #[test]
        fn binance_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::binance_decode(&data);
        }

        #[test]
        fn binance_decode_body_on_json_like(s in r#"\{("[a-zA-Z]{1,2}":("[0-9.]{0,12}"|[0-9]{1,14}|\[(\["[0-9.]{1,9}","[0-9.]{1,9}"\],?){0,3}\]|true|null),?){0,8}\}"#) {
            super::binance_decode(s.as_bytes());
        }
    }
}
