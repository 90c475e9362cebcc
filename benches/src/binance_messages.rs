//! Binance messages the decode bench and its instruction-count driver read, built the way
//! the venue (or the peer load server, mdload) renders them.

/// A depth diff with 10 levels a side, in the combined-stream envelope, spot-style values.
pub fn depth10() -> Vec<u8> {
    let level = |p: u64, q: u64| {
        format!(
            "[\"{}.{:02}000000\",\"{}.{:08}\"]",
            p / 100,
            p % 100,
            q / 100_000_000,
            q % 100_000_000
        )
    };
    let bids: Vec<String> = (0..10)
        .map(|i| level(6_183_763 - i * 7, 378_826_000 + i * 1_234_567))
        .collect();
    let asks: Vec<String> = (0..10)
        .map(|i| level(6_183_764 + i * 5, 154_698_000 + i * 7_654_321))
        .collect();
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[{}],"a":[{}]}}}}"#,
        bids.join(","),
        asks.join(",")
    )
    .into_bytes()
}

/// A spot trade in the combined-stream envelope.
pub fn trade() -> Vec<u8> {
    br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#.to_vec()
}

/// Levels a side in [`depth_mdload`]: the middle of mdload's 5–20.
pub const MDLOAD_LEVELS: usize = 12;

/// A depth diff as mdload sends it: not enveloped, `ts` (send time, ns) first, prices with
/// 2 decimals, quantities with 8, about one level in ten a deletion.
pub fn depth_mdload() -> Vec<u8> {
    let level = |p: u64, q: u64| {
        format!(
            "[\"{}.{:02}\",\"{}.{:08}\"]",
            p / 100,
            p % 100,
            q / 100_000_000,
            q % 100_000_000
        )
    };
    let qty = |i: u64, k: u64| {
        if i % 10 == 3 {
            0
        } else {
            (i * k) % 300_000_000
        }
    };
    let bids: Vec<String> = (0..MDLOAD_LEVELS as u64)
        .map(|i| level(4_324_999 - i * 3, qty(i, 51_234_017)))
        .collect();
    let asks: Vec<String> = (0..MDLOAD_LEVELS as u64)
        .map(|i| level(4_325_001 + i * 2, qty(i + 1, 73_611_113)))
        .collect();
    format!(
        r#"{{"ts":1764400000123456789,"e":"depthUpdate","E":1764400000123,"s":"BTCUSDT","U":1000123456,"u":1000123460,"b":[{}],"a":[{}]}}"#,
        bids.join(","),
        asks.join(",")
    )
    .into_bytes()
}

/// Bybit messages for the `decode_bybit` bench, with the very level strings of
/// [`depth10`] so per-level costs compare.
pub mod bybit {
    /// An `orderbook.50` delta with [`super::depth10`]'s 10 levels a side (linear key order).
    pub fn depth10() -> Vec<u8> {
        levels_message("delta", 10)
    }

    /// An `orderbook.50` snapshot, 50 levels a side, the same value shapes.
    pub fn snapshot50() -> Vec<u8> {
        levels_message("snapshot", 50)
    }

    fn levels_message(typ: &str, n: u64) -> Vec<u8> {
        let level = |p: u64, q: u64| {
            format!(
                "[\"{}.{:02}000000\",\"{}.{:08}\"]",
                p / 100,
                p % 100,
                q / 100_000_000,
                q % 100_000_000
            )
        };
        let bids: Vec<String> = (0..n)
            .map(|i| level(6_183_763 - i * 7, 378_826_000 + i * 1_234_567))
            .collect();
        let asks: Vec<String> = (0..n)
            .map(|i| level(6_183_764 + i * 5, 154_698_000 + i * 7_654_321))
            .collect();
        format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"{typ}","ts":1723161255308,"data":{{"s":"BTCUSDT","b":[{}],"a":[{}],"u":50093239207,"seq":7961638726}},"cts":1723161255306}}"#,
            bids.join(","),
            asks.join(",")
        )
        .into_bytes()
    }

    /// A linear trade (UUID id), as documented (venues.md §5).
    pub fn trade() -> Vec<u8> {
        br#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1709891679005,"data":[{"T":1709891679000,"s":"BTCUSDT","S":"Buy","v":"0.010","p":"27451.00","L":"PlusTick","i":"9dc75fca-4bdd-4773-9f78-6f5d7ab2a110","BT":false,"seq":987654322}]}"#.to_vec()
    }

    /// A spot trade (numeric id, `ts` before `type`).
    pub fn trade_spot() -> Vec<u8> {
        br#"{"topic":"publicTrade.BTCUSDT","ts":1672304486868,"type":"snapshot","data":[{"i":"2290000000007764263","T":1672304486865,"p":"16578.50","v":"0.001","S":"Sell","s":"BTCUSDT","BT":false}]}"#.to_vec()
    }
}

/// OKX messages for the `okx_decode` and `okx_ratio` benches.
pub mod okx {
    /// A `books` update with 10 bids and 10 asks (BTC-USDT's tick 0.1, sizes as OKX writes
    /// them).
    pub fn books10() -> Vec<u8> {
        let size = |q: u64| {
            let mut s = format!("{}.{:06}", q / 1_000_000, q % 1_000_000);
            while s.ends_with('0') {
                s.pop();
            }
            s
        };
        let level = |p: u64, q: u64, n: u64| {
            format!(r#"["{}.{}","{}","0","{n}"]"#, p / 10, p % 10, size(q))
        };
        let bids: Vec<String> = (0..10)
            .map(|i| level(618_376 - i * 7, 378_826 + i * 1_234, 1 + i))
            .collect();
        let asks: Vec<String> = (0..10)
            .map(|i| level(618_377 + i * 5, 154_698 + i * 7_654, 2 + i))
            .collect();
        format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[{}],"bids":[{}],"ts":"1723161255308","checksum":0,"prevSeqId":50093239203,"seqId":50093239207}}]}}"#,
            asks.join(","),
            bids.join(",")
        )
        .into_bytes()
    }
}
