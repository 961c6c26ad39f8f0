//! Binance spot (`binance`) and USD-M futures (`binance_futures`).

pub mod client;
pub mod messages;
pub mod parse;
pub mod session;
pub mod sync;
