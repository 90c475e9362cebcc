//! Binance spot and USD-M as [`SimVenue`]s: the URL routes of the stream endpoints and the
//! REST depth snapshot (plus `ping` and `time`), for the simulator server.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use super::render::render_error;
use super::{Feed, FeedOptions, Market, Route, TimeUnit, Venue, VenueConfig};
use crate::sim::{
    FeedRequest, HttpAnswer, Model, SessionDefaults, SimFeed, SimVenue, SimVenueConfig,
    SimVenueEntry, VenueError, query_param,
};

/// Binance spot in the simulator registry: pings every 20 s, drops after 60 s without a
/// pong, 5 inbound messages/s.
pub const SPOT_SIM: SimVenueEntry = SimVenueEntry {
    name: "binance",
    aliases: &["binance-spot", "spot"],
    defaults: SessionDefaults {
        ping_interval: Duration::from_secs(20),
        pong_timeout: Duration::from_secs(60),
        inbound_limit: Some(5),
    },
    build: |c| build(Market::Spot, c),
};

/// Binance USD-M futures in the simulator registry: pings every 3 min, drops after 10 min,
/// 10 inbound messages/s.
pub const USDM_SIM: SimVenueEntry = SimVenueEntry {
    name: "binance-usdm",
    aliases: &["usdm"],
    defaults: SessionDefaults {
        ping_interval: Duration::from_secs(180),
        pong_timeout: Duration::from_secs(600),
        inbound_limit: Some(10),
    },
    build: |c| build(Market::UsdM, c),
};

fn build(market: Market, c: &SimVenueConfig) -> Result<Arc<dyn SimVenue>, VenueError> {
    let venue = Venue::new(&VenueConfig {
        market,
        symbols: c.symbols.clone(),
        mix: c.mix,
        seed: c.seed,
        tape_len: c.tape_len,
    })?;
    Ok(Arc::new(BinanceSim(venue)))
}

/// A Binance [`Venue`] served by the simulator.
#[derive(Debug, Clone)]
pub struct BinanceSim(pub Arc<Venue>);

impl BinanceSim {
    /// The Binance venue model.
    pub fn venue(&self) -> &Arc<Venue> {
        &self.0
    }
}

fn error_body(code: i64, msg: &str) -> Vec<u8> {
    format!("{{\"code\":{code},\"msg\":\"{msg}\"}}").into_bytes()
}

impl SimVenue for BinanceSim {
    fn name(&self) -> &'static str {
        match self.0.market() {
            Market::Spot => SPOT_SIM.name,
            Market::UsdM => USDM_SIM.name,
        }
    }

    fn model(&self) -> &Model {
        self.0.model()
    }

    fn defaults(&self) -> SessionDefaults {
        match self.0.market() {
            Market::Spot => SPOT_SIM.defaults,
            Market::UsdM => USDM_SIM.defaults,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn snapshot_path(&self, symbol: &str, limit: u32) -> Option<String> {
        let path = match self.0.market() {
            Market::Spot => "/api/v3/depth",
            Market::UsdM => "/fapi/v1/depth",
        };
        Some(format!(
            "{path}?symbol={}&limit={limit}",
            symbol.to_ascii_uppercase()
        ))
    }

    /// `/ws`, `/ws/<stream>..` (raw), `/stream?streams=a/b` (combined); USD-M also under
    /// `/public` and `/market`; `timeUnit=MICROSECOND`.
    fn new_feed(
        &self,
        req: &FeedRequest<'_>,
        start_event: u64,
    ) -> Result<Box<dyn SimFeed>, HttpAnswer> {
        let market = self.0.market();
        let (route, rest) = match market {
            Market::UsdM if req.path.starts_with("/public/") => (Route::Public, &req.path[7..]),
            Market::UsdM if req.path.starts_with("/market/") => (Route::Market, &req.path[7..]),
            _ => (Route::Any, req.path),
        };
        let streams_param;
        let (combined, streams): (bool, Vec<&str>) = if rest == "/stream" {
            streams_param = query_param(req.query, "streams").unwrap_or_default();
            (
                true,
                streams_param.split('/').filter(|s| !s.is_empty()).collect(),
            )
        } else if rest == "/ws" || rest == "/ws/" {
            (false, Vec::new())
        } else if let Some(list) = rest.strip_prefix("/ws/") {
            (false, list.split('/').filter(|s| !s.is_empty()).collect())
        } else {
            let mut body = Vec::new();
            render_error(
                &mut body,
                2,
                "Invalid request: no such stream path: ",
                req.path.as_bytes(),
                b"null",
            );
            return Err(("404 Not Found", body));
        };
        let time_unit = match query_param(req.query, "timeUnit") {
            Some(u) if u.eq_ignore_ascii_case("microsecond") => TimeUnit::Microsecond,
            _ => TimeUnit::Millisecond,
        };
        let opts = FeedOptions {
            route,
            combined,
            probe: req.probe,
            time_unit,
        };
        let mut feed = Feed::new(self.0.clone(), opts, start_event);
        if let Err((e, name)) = feed.subscribe_names(&streams) {
            let mut body = Vec::new();
            let detail = format!("{e}: {name}");
            render_error(
                &mut body,
                2,
                "Invalid request: ",
                detail.as_bytes(),
                b"null",
            );
            return Err(("400 Bad Request", body));
        }
        Ok(Box::new(feed))
    }

    /// The depth snapshot (`/api/v3/depth`, `/fapi/v1/depth`), `ping` and `time`.
    fn rest(
        &self,
        method: &str,
        path: &str,
        query: &str,
        event: u64,
        now_ns: u64,
    ) -> Option<HttpAnswer> {
        let market = self.0.market();
        let prefix = match market {
            Market::Spot => "/api/v3/",
            Market::UsdM => "/fapi/v1/",
        };
        let not_found = || {
            (
                "404 Not Found",
                error_body(-1, "Not found: this simulator serves depth, ping and time"),
            )
        };
        let Some(endpoint) = path.strip_prefix(prefix) else {
            return Some(not_found());
        };
        if method != "GET" {
            return Some((
                "405 Method Not Allowed",
                error_body(-1, "Only GET is served"),
            ));
        }
        let now_ms = now_ns / 1_000_000;
        Some(match endpoint {
            "ping" => ("200 OK", b"{}".to_vec()),
            "time" => (
                "200 OK",
                format!("{{\"serverTime\":{now_ms}}}").into_bytes(),
            ),
            "depth" => {
                let venue = &self.0;
                let Some(symbol) = query_param(query, "symbol").filter(|s| !s.is_empty()) else {
                    return Some((
                        "400 Bad Request",
                        error_body(
                            -1102,
                            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                        ),
                    ));
                };
                let Some(sym) = venue.symbol_index(&symbol) else {
                    return Some(("400 Bad Request", error_body(-1121, "Invalid symbol.")));
                };
                let limit = match query_param(query, "limit") {
                    None => match market {
                        Market::Spot => 100,
                        Market::UsdM => 500,
                    },
                    Some(l) => match l.parse::<usize>() {
                        Ok(n) if n > 0 => n,
                        _ => {
                            return Some((
                                "400 Bad Request",
                                error_body(
                                    -1100,
                                    "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
                                ),
                            ));
                        }
                    },
                };
                let limit = match market {
                    Market::Spot => limit.min(5000),
                    // USD-M serves 5, 10, 20, 50, 100, 500 or 1000 levels: round up.
                    Market::UsdM => [5, 10, 20, 50, 100, 500, 1000]
                        .into_iter()
                        .find(|&v| v >= limit)
                        .unwrap_or(1000),
                };
                let mut body = Vec::with_capacity(64 + limit * 60);
                venue.render_snapshot(sym, event, limit, now_ms, &mut body);
                ("200 OK", body)
            }
            _ => not_found(),
        })
    }
}
