//! Local venues: servers on loopback that speak an exchange's wire protocol, for the
//! offline demo and the tests. `server` is the HTTP/WebSocket plumbing, `cert` the test CA.

pub mod binance;
pub mod cert;
pub mod server;
