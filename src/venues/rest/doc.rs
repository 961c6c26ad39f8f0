//! A whole answer read for the paths a definition asks, scanning it as few times as
//! possible: the top level once, each top-level member that a path goes through at most
//! once more (kept), and a list straight into its entries. A Kraken trades page is read
//! three times whatever the paths (error, list, cursor); a top-level list twice.

use super::json::{self, JsonError, Members, Path, Raw, Step};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

/// One JSON value read at its top level: an object's members or an array's elements
/// (borrowed, unparsed), or a scalar (not a record).
pub enum Record<'a> {
    Object(Vec<(Cow<'a, str>, Raw<'a>)>),
    Array(Vec<Raw<'a>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Record<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(v) = seq.next_element::<Raw<'de>>()? {
                    items.push(v);
                }
                Ok(Record::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Record<'de>, A::Error> {
                Members::deserialize(de::value::MapAccessDeserializer::new(map)).map(|m| Record::Object(m.0))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Record<'de>, E> {
                Ok(Record::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> Record<'a> {
    /// Reads a value's top level (a `RawValue` is valid JSON, so this cannot fail).
    pub fn read(value: Raw<'a>) -> Self {
        serde_json::from_str(value.get()).unwrap_or(Self::Scalar)
    }

    /// The member or element one step names, with its position.
    fn find(&self, step: &Step, symbol: &str) -> Option<(usize, Raw<'a>)> {
        let named = |want: &str| match self {
            Self::Object(m) => m.iter().position(|(n, _)| n == want).map(|i| (i, m[i].1)),
            _ => None,
        };
        let found = match (self, step) {
            (Self::Array(items), Step::Index(i)) => items.get(*i).map(|v| (*i, *v)),
            (Self::Object(_), Step::Index(i)) => named(&i.to_string()),
            (_, Step::Key(k)) => named(k),
            (_, Step::Symbol) => named(symbol),
            (Self::Object(m), Step::First) => m
                .iter()
                .position(|(_, v)| matches!(v.get().as_bytes().first(), Some(b'[' | b'{')))
                .map(|i| (i, m[i].1)),
            _ => None,
        };
        found.filter(|(_, v)| v.get() != "null")
    }

    /// The value at `path`: the first step from what was read, the rest by scanning.
    pub fn get(&self, path: &Path) -> Option<Raw<'a>> {
        let (first, rest) = path.0.split_first()?;
        let (_, v) = self.find(first, "")?;
        if rest.is_empty() {
            return Some(v);
        }
        json::get_steps(v, rest, "").ok().flatten()
    }
}

/// A whole answer.
pub struct Doc<'a> {
    root: Record<'a>,
    /// Top-level members read once a path goes through them.
    children: Vec<OnceCell<Record<'a>>>,
}

impl<'a> Doc<'a> {
    pub fn parse(body: &'a str) -> Result<Self, JsonError> {
        let root: Record<'a> = serde_json::from_str(body).map_err(|e| JsonError::Syntax(e.to_string()))?;
        let children = match &root {
            Record::Object(m) => (0..m.len()).map(|_| OnceCell::new()).collect(),
            Record::Array(_) => Vec::new(),
            Record::Scalar => return Err(JsonError::Syntax("expected an array or an object".into())),
        };
        Ok(Self { root, children })
    }

    /// The value at a non-empty `path`; `None` when missing or `null`.
    pub fn get(&self, path: &Path, symbol: &str) -> Result<Option<Raw<'a>>, JsonError> {
        let Some((first, rest)) = path.0.split_first() else {
            return Ok(None);
        };
        let Some((i, v)) = self.root.find(first, symbol) else {
            return Ok(None);
        };
        let Some((second, deeper)) = rest.split_first() else {
            return Ok(Some(v));
        };
        let child = match self.children.get(i) {
            Some(cell) => cell.get_or_init(|| Record::read(v)),
            None => return json::get_steps(v, rest, symbol),
        };
        match child.find(second, symbol) {
            Some((_, w)) if deeper.is_empty() => Ok(Some(w)),
            Some((_, w)) => json::get_steps(w, deeper, symbol),
            None => Ok(None),
        }
    }

    pub fn require(&self, path: &Path, symbol: &str) -> Result<Raw<'a>, JsonError> {
        self.get(path, symbol)?
            .ok_or_else(|| JsonError::Missing(path.to_string()))
    }

    /// The entries of the array at `path` (the whole answer when empty), each read.
    pub fn records(&self, path: &Path, symbol: &str) -> Result<Vec<Record<'a>>, JsonError> {
        if path.0.is_empty() {
            return match &self.root {
                Record::Array(items) => Ok(items.iter().map(|v| Record::read(v)).collect()),
                _ => Err(JsonError::NotList(path.to_string())),
            };
        }
        let list = self.require(path, symbol)?;
        match list.get().as_bytes().first() {
            Some(b'[') => serde_json::from_str(list.get()).map_err(|e| JsonError::Syntax(e.to_string())),
            _ => Err(JsonError::NotList(path.to_string())),
        }
    }

    /// The entries at `path` (the whole answer when empty), an array's or an object's
    /// (with their keys): instrument lists.
    pub fn entries(&self, path: &Path) -> Result<Vec<json::Item<'a>>, JsonError> {
        match (&self.root, path.0.is_empty()) {
            (Record::Array(items), true) => Ok(items.iter().map(|v| (None, *v)).collect()),
            (Record::Object(members), true) => {
                Ok(members.iter().map(|(k, v)| (Some(k.clone()), *v)).collect())
            }
            (_, _) => json::items(self.require(path, "")?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_the_top_level_and_through_a_kept_member() {
        let body = r#"{"error":[],"result":{"XXBTZUSD":[["1.5","2"],["1.6","3"]],"last":"7"}}"#;
        let doc = Doc::parse(body).unwrap();
        let p = |s: &str| Path::parse(s).unwrap();
        assert_eq!(doc.require(&p("result.last"), "").unwrap().get(), "\"7\"");
        assert_eq!(doc.require(&p("result.*.1.0"), "").unwrap().get(), "\"1.6\"");
        assert_eq!(
            doc.get(&p("result.{symbol}.0.1"), "XXBTZUSD")
                .unwrap()
                .unwrap()
                .get(),
            "\"2\""
        );
        let entries = doc.records(&p("result.*"), "").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].get(&p("1")).unwrap().get(), "\"3\"");
        assert!(matches!(doc.records(&p("error"), ""), Ok(v) if v.is_empty()));
        assert!(doc.records(&p("result.last"), "").is_err());
        assert!(doc.records(&p(""), "").is_err(), "the top level is not a list");
        let list = Doc::parse(r#"[{"a":1},7]"#).unwrap();
        let entries = list.records(&p(""), "").unwrap();
        assert!(matches!(entries[1], Record::Scalar));
        assert!(Doc::parse("7").is_err() && Doc::parse("{").is_err());
    }
}
