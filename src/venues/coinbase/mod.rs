//! Coinbase Advanced Trade (`coinbase`): public `level2`, `market_trades` and
//! `heartbeats` channels; no API keys needed.

pub mod client;
pub mod jwt;
pub mod messages;
pub mod parse;
pub mod replay;
pub mod session;
pub mod settings;
