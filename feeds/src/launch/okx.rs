//! The launch hook for OKX v5 public: [`OkxFeed`]'s plan, each connection an [`OkxAdapter`]
//! with the REST start of its books ([`OkxRestSnapshots`]), connects paced at 3 a second.
//! With [`LaunchSpec::lines`], [`Launch::start`] runs each connection over every line
//! ([`crate::okx::lines`], A/B arbitration).

use tickwire_engine::adapter::{
    ArbitrationConfig, FeedHandler, LineMonitor, SnapshotSource, connection_config,
};
use tickwire_engine::command::{ConsumerId, EngineHandle};
use tickwire_engine::{ConnectionId, FeedAdapter, Registry};

use super::{
    BuiltConnection, Launch, LaunchError, LaunchSpec, LineMonitors, PlannedConnection, SnapshotWrap,
};
use crate::okx::feed::connect_delays;
use crate::okx::{Channel, OkxAdapter, OkxConfig, OkxFeed, OkxRestSnapshots, Subscription};

/// The public endpoint's path, appended to a `--url` given without one.
const PUBLIC_PATH: &str = "/ws/v5/public";

/// A channel by the common names: trade (`trades`), bbo (`bbo-tbt`), book (`books`).
pub fn parse_channel(name: &str) -> Option<Channel> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trade" | "trades" => Channel::Trades,
        "bbo" | "bbo-tbt" => Channel::BboTbt,
        "book" | "books" | "depth" => Channel::Books,
        _ => return None,
    })
}

/// `ws://127.0.0.1:9100` → `ws://127.0.0.1:9100/ws/v5/public`; a URL with a path is kept.
fn with_public_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if rest.trim_end_matches('/').contains('/') {
        url.to_owned()
    } else {
        format!("{}{PUBLIC_PATH}", url.trim_end_matches('/'))
    }
}

/// A planned OKX launch.
pub struct OkxLaunch {
    config: OkxConfig,
    /// Each further line's settings (its `ws_url`), with [`LaunchSpec::lines`].
    lines: Vec<OkxConfig>,
    monitors: LineMonitors,
    groups: Vec<Vec<Subscription>>,
    spec: LaunchSpec,
    connections: Vec<PlannedConnection>,
}

impl OkxLaunch {
    /// Plans `spec`.
    pub fn plan(spec: &LaunchSpec, registry: &Registry) -> Result<OkxLaunch, LaunchError> {
        let usage = LaunchError::Usage;
        if spec.connections.is_some() {
            return Err(usage(crate::launch::NO_CONNECTIONS.into()));
        }
        let mut channels = Vec::new();
        for name in spec.channel_names() {
            match parse_channel(name) {
                Some(c) if !channels.contains(&c) => channels.push(c),
                Some(_) => {}
                None => {
                    return Err(usage(format!(
                        "unknown channel '{name}' for okx: use trade, bbo or book"
                    )));
                }
            }
        }
        let ids = spec.symbols_upper();
        if ids.is_empty() || channels.is_empty() {
            return Err(usage(
                "give at least one instId (--symbols BTC-USDT) and one channel".into(),
            ));
        }
        let mut feed = OkxFeed::new()
            .symbols(&ids)
            .channels(&channels)
            .options(spec.options)
            .handler_config(spec.handler);
        if let Some(u) = &spec.url {
            feed = feed.url(&with_public_path(u));
        }
        if let Some(r) = spec
            .rest_url
            .clone()
            .or_else(|| spec.url.as_deref().and_then(super::loopback_rest))
        {
            feed = feed.rest_url(&r);
        }
        let groups = feed.plan().map_err(|e| usage(e.to_string()))?;
        let mut config = feed.config().clone();
        // Shards share the IP's limits: REST weight (shards in processes of their own) and
        // the 3 connects a second (the shards' connects interleave).
        config.rest_processes = spec.shard.processes();
        let delays = connect_delays(spec.shard.slot(groups.len()));
        let mut connections = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let start_after = delays.get(spec.shard.slot(i)).copied().unwrap_or_default();
            let adapter = OkxAdapter::new(config.clone(), g, registry)
                .map_err(|e| usage(format!("subscriptions: {e}")))?;
            connections.push(PlannedConnection {
                url: FeedAdapter::endpoint(&adapter).url,
                streams: g.iter().map(Subscription::topic).collect(),
                start_after,
            });
        }
        let mut lines = Vec::with_capacity(spec.lines.len());
        for u in &spec.lines {
            let ws_url = with_public_path(u);
            tickwire_engine::config::Endpoint::parse(&ws_url)
                .map_err(|e| usage(format!("bad --url '{u}': {e}")))?;
            lines.push(OkxConfig {
                ws_url,
                ..config.clone()
            });
        }
        Ok(OkxLaunch {
            lines,
            monitors: LineMonitors::default(),
            config,
            groups,
            spec: spec.clone(),
            connections,
        })
    }
}

impl Launch for OkxLaunch {
    fn venue(&self) -> &'static str {
        crate::okx::VENUE
    }

    fn market_name(&self) -> String {
        "okx".into()
    }

    fn ws_base(&self) -> String {
        self.config.ws_url.clone()
    }

    fn rest_base(&self) -> Option<String> {
        Some(self.config.rest_base.clone())
    }

    fn book_depth(&self) -> usize {
        self.config.book_depth
    }

    fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.groups.iter().flatten() {
            if !out.contains(&s.inst_id) {
                out.push(s.inst_id.clone());
            }
        }
        out
    }

    fn connections(&self) -> &[PlannedConnection] {
        &self.connections
    }

    fn symbols_hint(&self) -> &'static str {
        "the venue lists its instruments at /api/v5/public/instruments"
    }

    fn line_monitors(&self) -> Vec<LineMonitor> {
        self.monitors.get()
    }

    /// [`start_connections`](super::start_connections), or with [`LaunchSpec::lines`] each
    /// connection over every line, paced the same way.
    fn start(
        &self,
        engine: &EngineHandle,
        registry: &Registry,
        consumers: &[ConsumerId],
    ) -> Result<Vec<ConnectionId>, LaunchError> {
        if self.lines.is_empty() {
            return super::start_connections(self, engine, registry, consumers);
        }
        let mut configs = vec![self.config.clone()];
        configs.extend(self.lines.iter().cloned());
        super::start_arbitrated(
            &self.connections,
            engine,
            self.spec.options,
            &self.spec.roots,
            consumers,
            &self.monitors,
            |i| {
                crate::okx::lines::arbitrated_feed(
                    &configs,
                    &self.groups[i],
                    registry,
                    &self.spec.roots,
                    self.spec.handler,
                    ArbitrationConfig::default(),
                )
                .map_err(|e| LaunchError::Failed(format!("lines: {e}")))
            },
        )
    }

    fn build(
        &self,
        index: usize,
        registry: &Registry,
        wrap: SnapshotWrap<'_>,
    ) -> Result<BuiltConnection, LaunchError> {
        let group = self
            .groups
            .get(index)
            .ok_or_else(|| LaunchError::Failed(format!("no connection {index}")))?;
        let adapter = OkxAdapter::new(self.config.clone(), group, registry)
            .map_err(|e| LaunchError::Failed(format!("subscriptions: {e}")))?;
        let mut books: Vec<&str> = Vec::new();
        for s in group {
            if s.channel == Channel::Books && !books.contains(&s.inst_id.as_str()) {
                books.push(&s.inst_id);
            }
        }
        let names = books
            .iter()
            .filter_map(|s| adapter.instrument(s).map(|i| (i, (*s).to_owned())))
            .collect();
        let rest = OkxRestSnapshots::spawn(&self.config, registry, &books, &self.spec.roots)
            .map_err(|e| LaunchError::Failed(format!("snapshot thread: {e}")))?;
        let snapshots: Box<dyn SnapshotSource> = wrap(Box::new(rest), names);
        let handler = FeedHandler::new(adapter, snapshots, self.spec.handler);
        let mut config = connection_config(handler.adapter(), self.spec.options)
            .map_err(|e| LaunchError::Usage(format!("bad --url: {e}")))?;
        for der in &self.spec.roots {
            config = config.trust_root_der(der);
        }
        Ok(BuiltConnection {
            config,
            handler: Box::new(handler),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_path_gets_the_public_one() {
        assert_eq!(
            with_public_path("ws://127.0.0.1:9"),
            "ws://127.0.0.1:9/ws/v5/public"
        );
        assert_eq!(
            with_public_path("ws://127.0.0.1:9/"),
            "ws://127.0.0.1:9/ws/v5/public"
        );
        assert_eq!(with_public_path("ws://h:9/ws/v5/x"), "ws://h:9/ws/v5/x");
    }
}
