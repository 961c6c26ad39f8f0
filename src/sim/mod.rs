//! Local venues: servers on loopback that speak an exchange's wire protocol, for the
//! offline demo and the tests. `server` is the HTTP/WebSocket plumbing, `cert` the test CA.

pub mod binance;
pub mod cert;
pub mod coinbase;
pub mod faults;
pub mod server;

/// A venue that plays a recording.
pub trait Playback: server::Venue {
    /// Every recorded message has been played.
    fn finished(&self) -> bool;
    /// WebSocket connections accepted so far.
    fn connections(&self) -> u64;
}
