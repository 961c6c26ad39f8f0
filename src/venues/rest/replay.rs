//! Replay of a REST venue's recording (`run --record`): the header's setup (symbols,
//! channels, page size, depth) rebuilds the same polled streams; each recorded answer
//! goes to the stream whose request it answers, through the same parsing and trade
//! de-duplication as the live run.

use super::Setup;
use super::definition::Definition;
use super::poll::Job;
use super::request::{self, Vars};
use super::settings::RestSettings;
use super::symbols::{self, Kind};
use crate::config::Channel;
use crate::model::{Event, VenueId};
use crate::record::reader::{Recorded, Recording};
use crate::replay::{ReplayError, ReplayStats};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use url::Url;

/// A request as matched: its path and its query pairs, sorted, without the cursor.
type RequestKey = (String, Vec<(String, String)>);

fn key(url: &Url, cursor_param: Option<&str>) -> RequestKey {
    let mut pairs: Vec<(String, String)> = (url.query_pairs())
        .filter(|(k, _)| Some(k.as_ref()) != cursor_param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    (url.path().to_owned(), pairs)
}

pub async fn replay(
    rec: &Recording,
    exchange: VenueId,
    def: Arc<Definition>,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    let err = |what: String| ReplayError::Parse {
        exchange,
        source: what.into(),
    };
    let setup: Setup = (rec.setup.as_deref())
        .ok_or_else(|| err("the header names no symbols (recordings of `run --record` do)".into()))
        .and_then(|s| serde_json::from_str(s).map_err(|e| err(format!("the header's setup: {e}"))))?;
    let settings = RestSettings {
        trades_limit: setup.trades_limit,
        book_depth: setup.book_depth,
        ..RestSettings::default()
    };
    // Requests are matched as the run built them: on its base URL.
    let base = match setup.rest_url.as_deref() {
        Some(u) => Url::parse(u).map_err(|e| err(format!("the header's rest_url: {e}")))?,
        None => def.rest_url.clone(),
    };
    let answers = || {
        rec.events.iter().filter_map(|e| match e {
            Recorded::Http { url, body, ts_ns } => Some((Url::parse(url).ok()?, body, *ts_ns)),
            _ => None,
        })
    };
    let mut lists = BTreeMap::new();
    for kind in [Kind::Spot, Kind::Perp] {
        let Some(inst) = symbols::market(&def, kind).and_then(|m| m.instruments.as_ref()) else {
            continue;
        };
        let wanted = |s: &String| symbols::split(s).is_some_and(|(_, _, k)| k == kind);
        if !setup.symbols.iter().any(wanted) {
            continue;
        }
        let asked = request::url(&base, &inst.path, &inst.params, &Vars::default()).map_err(err)?;
        let (_, body, _) = answers()
            .find(|(u, _, _)| key(u, None) == key(&asked, None))
            .ok_or(ReplayError::NoInstruments(exchange))?;
        let list = symbols::instrument_list(&def, inst, body).map_err(err)?;
        lists.insert(kind, list);
    }
    let mapped = symbols::resolve(&def, &setup.symbols, &lists).map_err(|unknown| {
        err(format!(
            "symbols not in the recorded instrument list: {unknown:?}"
        ))
    })?;
    let cursor_param = (def.trades.iter())
        .flat_map(|t| &t.params)
        .find(|(_, v)| v.contains("{cursor}"))
        .map(|(k, _)| k.as_str());
    let mut jobs: Vec<(RequestKey, Job)> = Vec::new();
    for m in mapped {
        for channel in &setup.channels {
            let job = match channel {
                Channel::Trades => Job::trades(exchange, def.clone(), m.clone(), &settings),
                Channel::L2Book => Job::book(exchange, def.clone(), m.clone(), &settings),
            };
            let url = job.url(&base, false).map_err(err)?;
            jobs.push((key(&url, cursor_param), job));
        }
    }
    let mut stats = ReplayStats::default();
    for (url, body, ts_ns) in answers() {
        let k = key(&url, cursor_param);
        let Some((_, job)) = jobs.iter_mut().find(|(jk, _)| *jk == k) else {
            continue;
        };
        stats.frames += 1;
        match job.apply(body, ts_ns) {
            Ok(applied) => {
                for (reason, detail) in &applied.rejected {
                    stats.reject(reason, detail);
                }
                for e in applied.events {
                    stats.events += 1;
                    if events.send(e).await.is_err() {
                        return Ok(stats);
                    }
                }
            }
            Err(e) => stats.reject(e.reason(), &e),
        }
    }
    Ok(stats)
}
