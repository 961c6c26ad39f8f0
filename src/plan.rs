//! The resolved plan `feedhandler check` prints: per exchange its channels, symbols and
//! the route each connection kind will take (credentials masked as `***`).

use crate::config::{Config, SinkConfig};
use crate::net::{ConnKind, ProxyResolver, Route, StaticResolver};
use std::fmt::Write;

fn describe_route(route: &Route) -> String {
    match route {
        Route::Direct => "direct".to_owned(),
        Route::Proxy(p) => format!("{} (timeout {} s)", p.url.masked(), p.timeout_seconds),
    }
}

/// Human-readable plan; contains no credential.
pub fn describe(config: &Config) -> String {
    let resolver = StaticResolver::new(&config.proxy);
    let mut out = String::new();
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
    if !config.proxy.enabled {
        let _ = writeln!(out, "proxy: disabled (every connection direct)");
    }
    for (id, ex) in &config.exchanges {
        let channels: Vec<&str> = ex.channels.iter().map(|c| c.as_str()).collect();
        let _ = writeln!(out, "exchange {id}");
        let _ = writeln!(out, "  channels:  {}", channels.join(", "));
        let _ = writeln!(out, "  symbols:   {}", ex.symbols.join(", "));
        if ex.credentials.is_some() {
            let _ = writeln!(
                out,
                "  credentials: configured (JWT-signed subscriptions; key not shown)"
            );
        }
        for kind in [ConnKind::Http, ConnKind::Websocket] {
            let route = resolver.pick(*id, kind);
            let _ = writeln!(out, "  {:<10} {}", format!("{kind}:"), describe_route(&route));
        }
    }
    out
}
