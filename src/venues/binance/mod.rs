//! The Binance family: spot (`binance`), USD-M futures (`binance_futures`) and
//! Binance.US (`binance_us`), one code path with each venue's rules as data (`venue`).

pub mod client;
mod handover;
mod instruments;
pub mod messages;
pub mod parse;
mod plan;
pub mod replay;
pub mod session;
pub mod settings;
mod snapshots;
pub mod sync;
pub mod venue;
