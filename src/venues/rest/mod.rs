//! CCXT-style REST venues: any venue described by a definition file
//! (`exchanges/<venue>.yaml`) is polled for trades and book snapshots, normalized into
//! the same events as the native adapters. `definition` is the format, `catalog` loads
//! the files, `json` and `doc` read answers by path, `symbols` maps names, `parse` turns answers
//! into events, `tape` de-duplicates trades, `poll` is one polled stream without I/O,
//! `pacer` the venue's shared rate limit, `client` the I/O, `replay` the recordings,
//! `validate` the format's rules across keys.

pub mod catalog;
pub mod client;
pub mod definition;
pub mod doc;
pub mod json;
pub mod pacer;
pub mod parse;
pub mod poll;
pub mod replay;
pub mod request;
pub mod settings;
pub mod symbols;
pub mod tape;
mod validate;

use serde::{Deserialize, Serialize};

/// What a recording's header keeps of a REST venue's run, so `replay` builds the same
/// requests and reads the answers the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    pub symbols: Vec<String>,
    pub channels: Vec<crate::config::Channel>,
    #[serde(default)]
    pub trades_limit: Option<u32>,
    #[serde(default)]
    pub book_depth: Option<u32>,
    /// The base URL the run used (`rest_url`), when not the definition's.
    #[serde(default)]
    pub rest_url: Option<String>,
}
