//! The proxy service's answers, one per (exchange, connection type) — the region is the
//! process's own — fresh for their TTL, kept past it as a stale fallback while the
//! service is unavailable, at most `cache_entries` of them (least recently used go).

use super::client::Answer;
use crate::model::VenueId;
use crate::net::ConnKind;
use std::collections::HashMap;
use tokio::time::Instant;

pub type Key = (VenueId, ConnKind);

#[derive(Debug)]
struct Entry {
    answer: Answer,
    expires: Instant,
    used: u64,
}

/// How a lookup went.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a> {
    Fresh(&'a Answer),
    Stale(&'a Answer),
    Missing,
}

#[derive(Debug)]
pub struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
    clock: u64,
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    pub fn get(&mut self, key: Key, now: Instant) -> Lookup<'_> {
        self.clock += 1;
        match self.entries.get_mut(&key) {
            Some(e) => {
                e.used = self.clock;
                if now < e.expires {
                    Lookup::Fresh(&e.answer)
                } else {
                    Lookup::Stale(&e.answer)
                }
            }
            None => Lookup::Missing,
        }
    }

    pub fn put(&mut self, key: Key, answer: Answer, now: Instant) {
        self.clock += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| *k);
            oldest.and_then(|k| self.entries.remove(&k));
        }
        let expires = now + answer.ttl;
        let used = self.clock;
        self.entries.insert(
            key,
            Entry {
                answer,
                expires,
                used,
            },
        );
    }

    /// Forgets `key`'s answer if it handed out `route` (as displayed): that proxy failed.
    pub fn forget(&mut self, key: Key, route: &str) {
        if self
            .entries
            .get(&key)
            .is_some_and(|e| e.answer.route.to_string() == route)
        {
            self.entries.remove(&key);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Route;
    use crate::net::service::client::Policy;
    use std::time::Duration;

    fn answer(ttl_s: u64) -> Answer {
        Answer {
            route: Route::Direct,
            ttl: Duration::from_secs(ttl_s),
            policy: Policy::Embedded,
        }
    }

    fn key(name: &str) -> Key {
        (VenueId::new(name).unwrap(), ConnKind::Websocket)
    }

    #[test]
    fn fresh_for_the_ttl_then_stale() {
        let t0 = Instant::now();
        let mut c = Cache::new(4);
        assert_eq!(c.get(key("a"), t0), Lookup::Missing);
        c.put(key("a"), answer(60), t0);
        assert!(matches!(
            c.get(key("a"), t0 + Duration::from_secs(59)),
            Lookup::Fresh(_)
        ));
        assert!(matches!(
            c.get(key("a"), t0 + Duration::from_secs(60)),
            Lookup::Stale(_)
        ));
    }

    #[test]
    fn bounded_least_recently_used_go_first() {
        let t0 = Instant::now();
        let mut c = Cache::new(2);
        c.put(key("a"), answer(60), t0);
        c.put(key("b"), answer(60), t0);
        c.get(key("a"), t0);
        c.put(key("c"), answer(60), t0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(key("b"), t0), Lookup::Missing);
        assert!(matches!(c.get(key("a"), t0), Lookup::Fresh(_)));
    }

    #[test]
    fn a_failed_proxy_is_forgotten_only_if_it_is_the_cached_one() {
        let t0 = Instant::now();
        let mut c = Cache::new(2);
        c.put(key("a"), answer(60), t0);
        c.forget(key("a"), "socks5h://127.0.0.1:1080");
        assert!(matches!(c.get(key("a"), t0), Lookup::Fresh(_)));
        c.forget(key("a"), "direct");
        assert_eq!(c.get(key("a"), t0), Lookup::Missing);
    }
}
