//! Binance spot (`binance`) and USD-M futures (`binance_futures`).

pub mod client;
mod handover;
pub mod messages;
pub mod parse;
mod plan;
pub mod session;
pub mod sync;
