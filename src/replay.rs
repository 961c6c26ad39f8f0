//! `feedhandler replay`: runs a recording through the same session (parse + book sync)
//! the live client uses, with no network, and sends the normalized events to the sink.
//! The recording's header names the venue; the registry picks its kind's replay.

use crate::model::{Event, VenueId};
use crate::record::reader::Recording;
use crate::venues::registry;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("recordings of {name:?} cannot be replayed (supported: {})", supported.join(", "))]
    Unsupported { name: String, supported: Vec<String> },
    #[error("replay of {exchange}: {source}")]
    Parse {
        exchange: VenueId,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("replay of {0}: the recording has no instrument list")]
    NoInstruments(VenueId),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    pub frames: u64,
    pub events: u64,
    /// Snapshots the live client would have requested (fetched or resubscribed): one
    /// per gap and per book after a reconnect. Zero for a gap-free single connection.
    pub snapshot_requests: u64,
    /// Frames rejected (not applied), by reason.
    pub rejected: std::collections::BTreeMap<&'static str, u64>,
}

impl ReplayStats {
    /// A frame was rejected for `reason`: counted, and logged the first time per reason.
    pub fn reject(&mut self, reason: &'static str, detail: &dyn std::fmt::Display) {
        let count = self.rejected.entry(reason).or_insert(0);
        *count += 1;
        if *count == 1 {
            tracing::warn!(
                reason,
                "frame rejected: {detail} (further ones of this reason are counted)"
            );
        }
    }

    /// Sends the events among a session's outputs and counts its snapshot requests
    /// (`split` gives an event, or how many snapshots were asked for). False when the
    /// sink has gone away.
    pub async fn publish<O>(
        &mut self,
        outputs: &mut Vec<O>,
        events: &mpsc::Sender<Event>,
        split: impl Fn(O) -> Result<Event, u64>,
    ) -> bool {
        for o in outputs.drain(..) {
            match split(o) {
                Ok(e) => {
                    self.events += 1;
                    if events.send(e).await.is_err() {
                        return false;
                    }
                }
                Err(requests) => self.snapshot_requests += requests,
            }
        }
        true
    }
}

/// Replays `rec` (a REST venue's with its definition from `catalog`); stops early if
/// the receiver goes away.
pub async fn replay(
    rec: &Recording,
    catalog: &crate::venues::rest::catalog::Catalog,
    events: mpsc::Sender<Event>,
) -> Result<ReplayStats, ReplayError> {
    registry::replay(rec, catalog, events).await
}
