//! Sinks: where normalized events go. Adapters send into a bounded queue; a full queue
//! makes them wait (backpressure), so nothing is dropped silently.

pub mod kafka;
pub mod stdout;
pub mod topic;

use crate::config::SinkConfig;

/// Events buffered between adapters and the stdout sink.
const STDOUT_QUEUE_CAPACITY: usize = 65_536;

/// The bounded queue between adapters and the sink: when it is full, adapters wait.
pub fn queue_capacity(sink: &SinkConfig) -> usize {
    match sink {
        SinkConfig::Stdout(_) => STDOUT_QUEUE_CAPACITY,
        SinkConfig::Kafka(k) => k.queue_capacity,
    }
}
