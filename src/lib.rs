//! feedhandler: exchange adapters that stream normalized trades and L2 books to a sink,
//! with every network connection built by one proxy-aware factory (`net`).

pub mod config;
#[allow(clippy::disallowed_methods)]
pub mod net;
pub mod plan;
