//! Serde helpers that read venues' decimal strings straight into exact decimals, so wire
//! structs hold `Decimal` without an intermediate string allocation. A value is carried
//! with exactly the venue's digits or refused: only plain non-negative decimals
//! (`0.35210000`, `61000`) with at most 28 significant digits and 28 decimals are read;
//! signs, exponents (`6.1e4`) and longer values are errors, never rounded.

use crate::model::Level;
use rust_decimal::Decimal;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use std::fmt;

/// Significant digits and decimals a `Decimal` holds exactly.
const MAX_DIGITS: u32 = 28;

/// Why a venue's number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadDecimal {
    #[error("not a plain non-negative decimal")]
    Format,
    #[error("more than {MAX_DIGITS} digits (it would be rounded)")]
    TooLong,
}

/// Parses a plain non-negative decimal exactly, keeping its scale (`0.10` stays `0.10`).
pub fn parse_exact(s: &str) -> Result<Decimal, BadDecimal> {
    let b = s.as_bytes();
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[..0]),
    };
    let has_dot = int.len() < b.len();
    if int.is_empty() || (has_dot && frac.is_empty()) {
        return Err(BadDecimal::Format);
    }
    let mut mantissa: u64 = 0;
    let mut significant = 0u32;
    for &c in int.iter().chain(frac) {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return Err(BadDecimal::Format);
        }
        significant += u32::from(significant > 0 || digit != 0);
        if significant > 19 {
            // Beyond what a u64 holds (rare): read the digits again, wide.
            return wide(int, frac);
        }
        mantissa = mantissa * 10 + u64::from(digit);
    }
    match u32::try_from(frac.len()) {
        // The two low words of the 96-bit mantissa; the scale is in range.
        Ok(scale @ 0..=MAX_DIGITS) => Ok(Decimal::from_parts(
            mantissa as u32,
            (mantissa >> 32) as u32,
            0,
            false,
            scale,
        )),
        _ => Err(BadDecimal::TooLong),
    }
}

/// `parse_exact` for 20 to 28 significant digits (the digits are known to be digits).
fn wide(int: &[u8], frac: &[u8]) -> Result<Decimal, BadDecimal> {
    let mut mantissa: u128 = 0;
    let mut significant = 0u32;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return Err(BadDecimal::Format);
        }
        significant += u32::from(significant > 0 || c != b'0');
        if significant > MAX_DIGITS {
            return Err(BadDecimal::TooLong);
        }
        mantissa = mantissa * 10 + u128::from(c - b'0');
    }
    let scale = u32::try_from(frac.len()).map_err(|_| BadDecimal::TooLong)?;
    if scale > MAX_DIGITS {
        return Err(BadDecimal::TooLong);
    }
    let mantissa = i128::try_from(mantissa).map_err(|_| BadDecimal::TooLong)?;
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| BadDecimal::TooLong)
}

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
                parse_exact(s).map(Dec).map_err(|e| {
                    let shown: String = s.chars().take(40).collect();
                    E::custom(format!("decimal {shown:?}: {e}"))
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_exact_or_refused() {
        // Accepted values print back with exactly the venue's digits.
        for ok in [
            "0",
            "0.35210000",
            "61837.63000000",
            "0.000",
            "5000.00",
            "79228162514264.33759354395033",
            "0.0000000000000000000000000001",
        ] {
            assert_eq!(parse_exact(ok).unwrap().to_string(), ok);
        }
        for (bad, why) in [
            ("-5", BadDecimal::Format),
            ("+5", BadDecimal::Format),
            ("6.1e4", BadDecimal::Format),
            ("", BadDecimal::Format),
            (".5", BadDecimal::Format),
            ("5.", BadDecimal::Format),
            ("1.2.3", BadDecimal::Format),
            ("NaN", BadDecimal::Format),
            (" 1", BadDecimal::Format),
            ("0.1234567890123456789012345678901234567890", BadDecimal::TooLong),
            ("12345678901234567890123456789", BadDecimal::TooLong),
            ("0.00000000000000000000000000001", BadDecimal::TooLong),
        ] {
            assert_eq!(parse_exact(bad), Err(why), "{bad:?}");
        }
    }
}
