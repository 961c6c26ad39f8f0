//! Recordings of raw exchange traffic: reading them (cryptofeed JSON lines, hftbacktest
//! captures) for `replay` and for local venues.

pub mod reader;
