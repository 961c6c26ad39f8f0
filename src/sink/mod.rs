//! Sinks: where normalized events go. Adapters send into a bounded queue; a full queue
//! makes them wait (backpressure), so nothing is dropped silently.

pub mod stdout;

/// Events buffered between adapters and the sink.
pub const EVENT_QUEUE_CAPACITY: usize = 65_536;
