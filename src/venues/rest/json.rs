//! Reading venue answers by path without building a JSON tree: a [`Path`] (`result.list`,
//! `data.0.bids`, `result.{symbol}`, `result.*`) walks borrowed [`RawValue`]s, so numbers
//! keep the venue's exact text (never an f64) and nothing is copied but escaped strings.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member by name.
    Key(Box<str>),
    /// An array element (also a member named by the digits, for objects).
    Index(usize),
    /// The member named by the request's venue symbol (`result.{symbol}`).
    Symbol,
    /// The first member whose value is an array or object (`result.*`: Kraken keys its
    /// answer by the pair's canonical name, which may differ from the one requested).
    First,
}

/// A dotted path into a JSON answer; empty means the whole answer. In YAML a string
/// (`result.list`) or an array index (`2`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Step>);

impl Path {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text == "." {
            return Ok(Self::default());
        }
        let steps = text.split('.').map(|seg| match seg {
            "" => Err(format!("path {text:?} has an empty segment")),
            "{symbol}" => Ok(Step::Symbol),
            "*" => Ok(Step::First),
            s if s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .map(Step::Index)
                .map_err(|_| format!("index {s} is too large")),
            s if s.contains(['{', '}']) => {
                Err(format!("path segment {s:?}: only {{symbol}} may be substituted"))
            }
            s => Ok(Step::Key(s.into())),
        });
        steps.collect::<Result<_, _>>().map(Self)
    }

    fn index(i: usize) -> Self {
        Self(vec![Step::Index(i)])
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(the whole answer)");
        }
        for (i, step) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match step {
                Step::Key(k) => f.write_str(k)?,
                Step::Index(n) => write!(f, "{n}")?,
                Step::Symbol => f.write_str("{symbol}")?,
                Step::First => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Path;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dotted path such as `result.list`, or an array index")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Path, E> {
                Path::parse(s).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Path, E> {
                usize::try_from(n).map(Path::index).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Path, E> {
                usize::try_from(n)
                    .map(Path::index)
                    .map_err(|_| E::custom("an array index is not negative"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Path {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a path could not be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not JSON: {0}")]
    Syntax(String),
    #[error("{0} is missing")]
    Missing(String),
    #[error("{0} is not a list")]
    NotList(String),
}

/// A borrowed JSON value.
pub type Raw<'a> = &'a RawValue;

/// A list entry, with its key when the list is an object.
pub type Item<'a> = (Option<Cow<'a, str>>, Raw<'a>);

/// The value at `path` under `root`; `None` when a step finds nothing (or `null`).
pub fn get<'a>(root: Raw<'a>, path: &Path, symbol: &str) -> Result<Option<Raw<'a>>, JsonError> {
    get_steps(root, &path.0, symbol)
}

pub(super) fn get_steps<'a>(
    root: Raw<'a>,
    steps: &[Step],
    symbol: &str,
) -> Result<Option<Raw<'a>>, JsonError> {
    let mut at = root;
    for step in steps {
        let next = match step {
            Step::Key(k) => member(at, Want::Key(k))?,
            Step::Symbol => member(at, Want::Key(symbol))?,
            Step::First => member(at, Want::FirstContainer)?,
            Step::Index(i) => match at.get().as_bytes().first() {
                Some(b'[') => element(at, *i)?,
                _ => member(at, Want::Key(&i.to_string()))?,
            },
        };
        match next {
            Some(v) if v.get() != "null" => at = v,
            _ => return Ok(None),
        }
    }
    Ok(Some(at))
}

/// The elements of an array, or the values of an object (Kraken's instrument map, with
/// each value's key).
pub fn items(value: Raw<'_>) -> Result<Vec<Item<'_>>, JsonError> {
    let text = value.get();
    let syntax = |e: serde_json::Error| JsonError::Syntax(e.to_string());
    match text.as_bytes().first() {
        Some(b'[') => {
            let list: Vec<Raw<'_>> = serde_json::from_str(text).map_err(syntax)?;
            Ok(list.into_iter().map(|v| (None, v)).collect())
        }
        Some(b'{') => {
            let map: Members<'_> = serde_json::from_str(text).map_err(syntax)?;
            Ok(map.0.into_iter().map(|(k, v)| (Some(k), v)).collect())
        }
        _ => Err(JsonError::Syntax("expected an array or an object".into())),
    }
}

/// A scalar as text: a string's content (unescaped) or a number's exact digits; `None`
/// for arrays and objects.
pub fn text(value: Raw<'_>) -> Option<Cow<'_, str>> {
    let raw = value.get();
    match raw.as_bytes().first()? {
        // A string without escapes is its own text (the common case: numbers as strings).
        b'"' if raw.len() >= 2 && !raw.contains('\\') => Some(Cow::Borrowed(&raw[1..raw.len() - 1])),
        b'"' => serde_json::from_str::<Cow<'_, str>>(raw).ok(),
        b'[' | b'{' => None,
        _ => Some(Cow::Borrowed(raw)),
    }
}

/// Whether a value is empty: `[]`, `{}`, `""`, `null`.
pub fn is_empty(value: Raw<'_>) -> bool {
    let mut bytes = value.get().bytes().filter(|b| !b.is_ascii_whitespace());
    let first_three = (bytes.next(), bytes.next(), bytes.next());
    value.get() == "null"
        || matches!(
            first_three,
            (Some(b'['), Some(b']'), None) | (Some(b'{'), Some(b'}'), None) | (Some(b'"'), Some(b'"'), None)
        )
}

/// An object's members in order, borrowed.
pub(super) struct Members<'a>(pub(super) Vec<(Cow<'a, str>, Raw<'a>)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    out.push((k, map.next_value::<Raw<'de>>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Clone, Copy)]
enum Want<'k> {
    Key(&'k str),
    FirstContainer,
}

/// Finds one member of an object, skipping the others without keeping them.
fn member<'a>(obj: Raw<'a>, want: Want<'_>) -> Result<Option<Raw<'a>>, JsonError> {
    struct Seed<'k>(Want<'k>);
    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = Option<Raw<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = Option<Raw<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                if found.is_some() {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let v = map.next_value::<Raw<'de>>()?;
                let hit = match self.0 {
                    Want::Key(want) => k == want,
                    Want::FirstContainer => matches!(v.get().as_bytes().first(), Some(b'[' | b'{')),
                };
                if hit {
                    found = Some(v);
                }
            }
            Ok(found)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(obj.get());
    Seed(want)
        .deserialize(&mut de)
        .map_err(|e| JsonError::Syntax(e.to_string()))
}

/// Element `i` of an array.
fn element(arr: Raw<'_>, i: usize) -> Result<Option<Raw<'_>>, JsonError> {
    struct Seed(usize);
    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Option<Raw<'de>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Seed {
        type Value = Option<Raw<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            let mut n = 0;
            while n <= self.0 {
                match seq.next_element::<Raw<'de>>()? {
                    Some(v) if n == self.0 => found = Some(v),
                    Some(_) => {}
                    None => return Ok(None),
                }
                n += 1;
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(arr.get());
    Seed(i)
        .deserialize(&mut de)
        .map_err(|e| JsonError::Syntax(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_objects_arrays_and_the_symbol() {
        let body =
            r#"{"error":[],"result":{"XXBTZUSD":[["1.5","2",1616663113.2388,"b"]],"last":"1616663113"}}"#;
        let root: Raw<'_> = serde_json::from_str(body).unwrap();
        let at = |p: &str, sym: &str| {
            get(root, &Path::parse(p).unwrap(), sym)
                .unwrap()
                .map(|v| v.get().to_owned())
        };
        assert_eq!(at("result.XXBTZUSD.0.2", "").as_deref(), Some("1616663113.2388"));
        assert_eq!(at("result.{symbol}.0.0", "XXBTZUSD").as_deref(), Some("\"1.5\""));
        assert_eq!(at("result.*.0.3", "").as_deref(), Some("\"b\""));
        assert_eq!(at("result.last", "").as_deref(), Some("\"1616663113\""));
        assert_eq!(at("result.nope", ""), None);
        assert_eq!(at("result.XXBTZUSD.7", ""), None);
        assert!(is_empty(
            get(root, &Path::parse("error").unwrap(), "").unwrap().unwrap()
        ));
        let last = get(root, &Path::parse("result.last").unwrap(), "")
            .unwrap()
            .unwrap();
        assert_eq!(text(last).unwrap(), "1616663113");
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["a..b", "result.{pair}", "a.b{"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }
}
