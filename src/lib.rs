//! feedhandler: exchange adapters that stream normalized trades and L2 books to a sink,
//! with every network connection built by one proxy-aware factory (`net`).

pub mod book;
pub mod config;
pub mod metrics;
pub mod model;
#[allow(clippy::disallowed_methods)]
pub mod net;
pub mod plan;
pub mod record;
pub mod replay;
pub mod run;
pub mod sim;
pub mod sink;
pub mod venues;
