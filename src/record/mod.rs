//! Recordings of raw exchange traffic: writing them (`run --record`) and reading them
//! (cryptofeed JSON lines, hftbacktest captures) for `replay` and for local venues.

pub mod reader;
pub mod writer;
