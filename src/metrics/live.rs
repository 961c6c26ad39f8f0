//! What is read at scrape time rather than kept current: seconds since each feed's last
//! message, the sink queue's depth, the proxy service's circuit state, pool members'
//! health; and the bounded set of `proxy` label values.

use crate::model::{Event, VenueId};
use crate::net::ConnKind;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Read at scrape time.
#[derive(Debug, Default)]
pub struct Live {
    /// Last message per (exchange, kind), unix milliseconds.
    last_ms: Mutex<Vec<(VenueId, ConnKind, Arc<AtomicI64>)>>,
    queue: Mutex<Option<tokio::sync::mpsc::WeakSender<Event>>>,
    /// The proxy service's circuit state, once a service is in use.
    circuit: Mutex<Option<i64>>,
    pools: Mutex<Vec<std::sync::Weak<crate::net::Pool>>>,
    /// `proxy` label values in use; more than [`MAX_PROXY_LABELS`] are `other`.
    proxies: Mutex<std::collections::HashSet<String>>,
}

/// Distinct `proxy` label values: configured members and the first proxies a service
/// hands out; a service that rotates through thousands must not make a series each.
const MAX_PROXY_LABELS: usize = 64;

impl Live {
    /// The last-message time of (exchange, kind), unix milliseconds, shared by every
    /// connection of that kind.
    pub fn last_message(&self, exchange: VenueId, kind: ConnKind) -> Arc<AtomicI64> {
        let mut last = self.last_ms.lock().unwrap_or_else(|e| e.into_inner());
        match last.iter().find(|(e, k, _)| *e == exchange && *k == kind) {
            Some((_, _, a)) => a.clone(),
            None => {
                let a = Arc::new(AtomicI64::new(0));
                last.push((exchange, kind, a.clone()));
                a
            }
        }
    }

    /// The `proxy` label for `url`: itself while fewer than [`MAX_PROXY_LABELS`] are in
    /// use, else `other`.
    pub fn proxy_label(&self, url: &str) -> String {
        let mut seen = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(url) || seen.len() < MAX_PROXY_LABELS {
            seen.insert(url.to_owned());
            url.to_owned()
        } else {
            "other".to_owned()
        }
    }

    pub fn watch_pool(&self, pool: &Arc<crate::net::Pool>) {
        for (member, _) in pool.service_states() {
            self.proxy_label(&member);
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.push(Arc::downgrade(pool));
    }

    pub fn set_circuit(&self, state: i64) {
        *self.circuit.lock().unwrap_or_else(|e| e.into_inner()) = Some(state);
    }

    pub fn set_queue(&self, queue: tokio::sync::mpsc::WeakSender<Event>) {
        *self.queue.lock().unwrap_or_else(|e| e.into_inner()) = Some(queue);
    }
}

#[derive(Debug)]
pub struct Collector(pub Arc<Live>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now_ms = crate::model::now_ns() / 1_000_000;
        let last = self.0.last_ms.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut family = encoder.encode_descriptor(
            "seconds_since_last_message",
            "Seconds since the last frame or answer, per exchange and kind",
            None,
            MetricType::Gauge,
        )?;
        for (exchange, kind, at) in last {
            let at = at.load(Ordering::Relaxed);
            if at > 0 {
                let labels = [("exchange", exchange.as_str()), ("kind", kind.as_str())];
                let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                age.set((now_ms - at) as f64 / 1000.0);
                age.encode(family.encode_family(&labels)?)?;
            }
        }
        let pools: Vec<_> = (self.0.pools.lock().unwrap_or_else(|e| e.into_inner()).iter())
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        if !pools.is_empty() {
            let mut family = encoder.encode_descriptor(
                "proxy_healthy",
                "1 while a pool member is in service, 0 while ejected",
                None,
                MetricType::Gauge,
            )?;
            let mut done = std::collections::HashSet::new();
            for (member, healthy) in pools.iter().flat_map(|p| p.service_states()) {
                if done.insert(member.clone()) {
                    let g = Gauge::<i64>::default();
                    g.set(i64::from(healthy));
                    g.encode(family.encode_family(&[("proxy", member.as_str())])?)?;
                }
            }
        }
        let circuit = *self.0.circuit.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = circuit {
            let g = Gauge::<i64>::default();
            g.set(state);
            let help = "The proxy service's circuit breaker: 0 closed, 1 half-open, 2 open";
            g.encode(encoder.encode_descriptor(
                "proxy_service_circuit_state",
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        let queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = queue.and_then(|w| w.upgrade()) {
            for (name, help, v) in [
                (
                    "sink_queue_depth",
                    "Events waiting in the sink queue",
                    tx.max_capacity() - tx.capacity(),
                ),
                (
                    "sink_queue_capacity",
                    "The sink queue's capacity, in events",
                    tx.max_capacity(),
                ),
            ] {
                let g = Gauge::<i64>::default();
                g.set(v as i64);
                g.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
            }
        }
        Ok(())
    }
}
