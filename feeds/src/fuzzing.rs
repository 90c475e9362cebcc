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

/// `okx_decode`: the OKX decoder never panics; a rejected frame leaves no events behind and
/// moves exactly one error counter; decoding is deterministic; the events format as JSON
/// lines; the input read as a REST `market/books` answer never panics either.
pub fn okx_decode(data: &[u8]) {
    use crate::okx::{Decoder, parse_books_snapshot};
    let registry = Registry::new();
    let run = || {
        let mut d = Decoder::new(Symbols::interning("okx", registry.clone()));
        let mut out = Vec::new();
        let r = d.decode(data, 1, &mut out);
        (r, out, d.stats())
    };
    let (r, out, stats) = run();
    let errors =
        stats.json_errors + stats.number_errors + stats.schema_errors + stats.unknown_symbols;
    match r {
        Ok(_) => assert_eq!(errors, 0, "{:?}", String::from_utf8_lossy(data)),
        Err(_) => {
            assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(data));
            assert_eq!(errors, 1);
        }
    }
    assert_eq!(run(), (r, out.clone(), stats));
    let mut lines = JsonLines::new(registry, "okx");
    let mut text = Vec::new();
    for e in &out {
        lines.write(e, &mut text);
    }
    let _ = parse_books_snapshot(data, InstrumentId(0));
    // The one-pass decimal reader agrees with the general parser wherever it accepts.
    if let Some(d) = crate::okx::okx_decimal(data) {
        let parts = |d: Decimal| (d.mantissa(), d.scale());
        assert_eq!(Decimal::parse(data).map(parts), Ok(parts(d)), "{data:?}");
    }
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
        fn okx_decode_body(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            super::okx_decode(&data);
        }

        #[test]
        fn okx_decode_body_on_json_like(s in r#"\{("(arg|data|action|event|code|asks|bids|seqId|prevSeqId|checksum|ts|channel|instId|px|sz|side|tradeId)":("[a-z0-9.\-]{0,8}"|-?[0-9]{1,12}|\{"channel":"(books|trades|bbo-tbt)","instId":"[A-Z-]{1,8}"\}|\[(\{|\[("[0-9.]{1,6}",?){0,4}\],?|\},?){0,4}\]),?){0,8}\}"#) {
            super::okx_decode(s.as_bytes());
        }

        #[test]
        fn okx_decimal_agrees_with_the_general_parser(s in "[0-9]{0,21}[.]?[0-9]{0,21}") {
            super::okx_decode(s.as_bytes());
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
