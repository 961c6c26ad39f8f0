//! Venue adapters. Each venue folder keeps the same roles: `messages` (wire structs),
//! `parse` (pure wire → normalized functions), `sync` (book sequencing), `client` (I/O).

pub mod backoff;
pub mod binance;
pub mod decimal;
