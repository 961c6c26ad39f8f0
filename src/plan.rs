//! The resolved plan `feedhandler check` prints: per exchange its channels, symbols and
//! the route each connection kind will take (credentials masked as `***`).

use crate::config::{Config, SinkConfig};
use crate::net::resolver_for;
use std::fmt::Write;

/// Human-readable plan; contains no credential. Routes come from the resolver `run`
/// builds from the same configuration.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let resolver = match resolver_for(config) {
        Ok(r) => r,
        Err(e) => return format!("proxy: cannot be set up: {e}\n"),
    };
    let sink = match &config.sink {
        SinkConfig::Stdout(_) => "stdout (JSON lines)".to_owned(),
        SinkConfig::Kafka(k) => {
            let properties: Vec<String> = k.properties.keys().map(|key| format!("{key}=***")).collect();
            format!(
                "kafka {} topic {} (queue {} events, on full: {}, flush deadline {} ms){}",
                k.bootstrap_servers,
                k.topic,
                k.queue_capacity,
                match k.on_full {
                    crate::config::OnFull::Block => "block",
                    crate::config::OnFull::DropOldest => "drop_oldest",
                },
                k.flush_timeout_ms,
                if properties.is_empty() {
                    String::new()
                } else {
                    format!(", properties: {}", properties.join(" "))
                }
            )
        }
    };
    let _ = writeln!(out, "sink: {sink}");
    let _ = match &config.metrics {
        Some(m) => writeln!(
            out,
            "metrics: http://{}/metrics, /health/live, /health/ready (symbol labels {})",
            m.listen,
            if m.symbol_labels { "on" } else { "off" }
        ),
        None => writeln!(
            out,
            "metrics: off (set metrics.listen to serve /metrics and health endpoints)"
        ),
    };
    if !config.proxy.enabled {
        let _ = writeln!(out, "proxy: disabled (every connection direct)");
    }
    if let Some(r) = &config.proxy.regional {
        let region = r
            .region
            .as_deref()
            .unwrap_or("unknown (no rule with a region applies)");
        let _ = writeln!(
            out,
            "region: {region}; {} regional rule{} (precedence: exchange override, regional rule, default, direct)",
            r.rules.len(),
            if r.rules.len() == 1 { "" } else { "s" }
        );
    }
    for (id, venue) in &config.exchanges {
        let ex = &venue.common;
        let channels: Vec<&str> = ex.channels.iter().map(|c| c.as_str()).collect();
        let _ = writeln!(out, "exchange {id}");
        let _ = writeln!(out, "  channels:  {}", channels.join(", "));
        let _ = writeln!(out, "  symbols:   {}", ex.symbols.join(", "));
        for line in venue.check_lines() {
            let _ = writeln!(out, "  {line}");
        }
        for &kind in venue.conn_kinds() {
            let route = resolver.describe(*id, kind);
            let _ = writeln!(out, "  {:<10} {route}", format!("{kind}:"));
        }
    }
    out
}
