//! A scripted REST venue for the engine's end-to-end tests: each route (a path prefix)
//! answers its scripted replies in order, then repeats the last; every request is logged
//! with its arrival time, so tests check what was asked and how requests were spaced.

use feedhandler::sim::Playback;
use feedhandler::sim::server::{HttpReply, ServerWs, Venue};
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The events of `exchange` in a run's stdout.
pub fn events(stdout: &str, exchange: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["exchange"] == exchange)
        .collect()
}

struct Route {
    prefix: String,
    replies: VecDeque<HttpReply>,
    last: HttpReply,
}

#[derive(Default)]
pub struct ScriptedRest {
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<(Instant, String)>>,
}

impl ScriptedRest {
    /// Requests starting with `prefix` (path and query) get `replies` in order, then
    /// the last one again and again.
    pub fn route(self, prefix: &str, replies: Vec<HttpReply>) -> Self {
        let last = replies.last().cloned().unwrap_or_else(HttpReply::not_found);
        self.routes.lock().unwrap().push(Route {
            prefix: prefix.to_owned(),
            replies: replies.into(),
            last,
        });
        self
    }

    /// Requests so far: arrival time and path with query.
    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests whose path and query start with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<(Instant, String)> {
        self.requests()
            .into_iter()
            .filter(|(_, p)| p.starts_with(prefix))
            .collect()
    }
}

impl Venue for ScriptedRest {
    fn http(&self, path_and_query: &str) -> HttpReply {
        self.requests
            .lock()
            .unwrap()
            .push((Instant::now(), path_and_query.to_owned()));
        let mut routes = self.routes.lock().unwrap();
        match routes.iter_mut().find(|r| path_and_query.starts_with(&r.prefix)) {
            Some(r) => r.replies.pop_front().unwrap_or_else(|| r.last.clone()),
            None => HttpReply::not_found(),
        }
    }

    fn websocket(self: Arc<Self>, _: String, _: ServerWs) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl Playback for ScriptedRest {
    /// Every scripted reply has been given.
    fn finished(&self) -> bool {
        self.routes.lock().unwrap().iter().all(|r| r.replies.is_empty())
    }

    fn connections(&self) -> u64 {
        0
    }
}
