//! Duplicate keys in the YAML file, at any depth. figment (like most YAML readers) keeps
//! the last of two equal keys silently, so `binance:` written twice would drop the first
//! section unnoticed; this reads the file once more only to find them.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;

/// Dotted key paths that appear more than once in `yaml` (empty if it does not parse:
/// figment reports syntax errors).
pub fn duplicate_keys(yaml: &str) -> Vec<String> {
    let mut found = Vec::new();
    let seed = Keys {
        path: String::new(),
        found: &mut found,
    };
    let _ = seed.deserialize(serde_yaml::Deserializer::from_str(yaml));
    found
}

struct Keys<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl Keys<'_> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Keys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let key = match key {
                serde_yaml::Value::String(s) => s,
                other => serde_yaml::to_string(&other)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            };
            let path = self.child(&key);
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Keys {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(Keys {
                path: self.child(&i.to_string()),
                found: &mut *self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::duplicate_keys;

    #[test]
    fn finds_repeated_keys_at_any_depth() {
        let yaml = "exchanges:\n  binance: {symbols: [A-B], channels: [trades]}\n  binance: {symbols: [C-D], channels: [trades]}\nsink: {kind: stdout}\nproxy:\n  default:\n    http: http://a:1\n    http: http://b:1\nlist:\n  - {a: 1, a: 2}\n";
        assert_eq!(
            duplicate_keys(yaml),
            ["exchanges.binance", "proxy.default.http", "list.0.a"]
        );
        assert!(duplicate_keys("a: 1\nb: {a: 2}\n").is_empty());
    }
}
