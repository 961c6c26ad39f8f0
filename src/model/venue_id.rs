//! A venue's identity: a validated name (`[a-z0-9_]`, 1–32 characters) such as `binance`
//! or `kraken`. Venues defined by files exist only at run time, so this is data, not an
//! enum. Names are interned: an id is `Copy`, compares by its text and costs nothing to
//! carry in every event.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

/// Longest venue name accepted.
pub const MAX_VENUE_ID_LEN: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VenueId(&'static str);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a venue name is 1-{MAX_VENUE_ID_LEN} characters of a-z, 0-9 and _")]
pub struct InvalidVenueId;

/// Every name made into an id so far; the set is bounded by the configured venues, the
/// registry and the recordings read.
static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

impl VenueId {
    pub fn new(name: &str) -> Result<Self, InvalidVenueId> {
        let valid = (1..=MAX_VENUE_ID_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(InvalidVenueId);
        }
        let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = interned.get(name) {
            return Ok(Self(known));
        }
        let leaked: &'static str = Box::leak(name.into());
        interned.insert(leaked);
        Ok(Self(leaked))
    }

    /// The venue named as recordings name it (`BINANCE_US` for `binance_us`).
    pub fn from_recording_name(name: &str) -> Result<Self, InvalidVenueId> {
        Self::new(&name.to_ascii_lowercase())
    }

    /// The name used in config, logs, topics and normalized events.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The venue's name in recordings (cryptofeed's convention: upper case).
    pub fn recording_name(self) -> String {
        self.0.to_ascii_uppercase()
    }
}

impl fmt::Display for VenueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for VenueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl serde::Serialize for VenueId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for VenueId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_interned() {
        for good in ["binance", "binance_us", "okx2", "a"] {
            let id = VenueId::new(good).unwrap();
            assert_eq!(id.as_str(), good);
            assert!(std::ptr::eq(id.as_str(), VenueId::new(good).unwrap().as_str()));
        }
        let long = "a".repeat(MAX_VENUE_ID_LEN + 1);
        for bad in ["", "Binance", "bin-ance", "bin ance", "ü", long.as_str()] {
            assert_eq!(VenueId::new(bad), Err(InvalidVenueId), "{bad:?}");
        }
        let us = VenueId::from_recording_name("BINANCE_US").unwrap();
        assert_eq!(
            (us.as_str(), us.recording_name().as_str()),
            ("binance_us", "BINANCE_US")
        );
    }
}
