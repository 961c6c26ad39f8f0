//! Serde helpers that read venues' decimal strings straight into exact decimals, so wire
//! structs hold `Decimal` without an intermediate string allocation.

use crate::model::Level;
use rust_decimal::Decimal;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use std::fmt;
use std::str::FromStr;

/// A decimal sent as a JSON string (`"0.35210000"`); its scale is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dec(pub Decimal);

impl<'de> serde::Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number as a string")
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<Dec, E> {
                Decimal::from_str(s)
                    .map(Dec)
                    .map_err(|e| E::custom(format!("decimal {s:?}: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// `[[price, size], …]` with string decimals, into levels.
pub fn levels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Level>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Level>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of [price, size] pairs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Level>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16));
            while let Some((Dec(p), Dec(s))) = seq.next_element::<(Dec, Dec)>()? {
                out.push((p, s));
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}
