//! One venue's configuration section (`exchanges.<name>:`): the keys every venue takes
//! ([`super::ExchangeConfig`]) plus its kind's own typed keys, each extracted from the
//! merged file and environment so errors keep the full key path and the value's source.
//! Keys that neither part takes are rejected with the list of those that are taken.

use super::load::{Problem, origin, problem_from_figment};
use figment::Figment;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// A venue's section of the loaded configuration, handed to its kind for extraction.
pub struct Section<'a> {
    figment: &'a Figment,
    /// `exchanges.<name>`.
    key: String,
    problems: Vec<Problem>,
}

impl<'a> Section<'a> {
    pub(super) fn new(figment: &'a Figment, key: String) -> Self {
        Self {
            figment,
            key,
            problems: Vec::new(),
        }
    }

    /// `exchanges.<name>.<rel>`.
    pub fn key(&self, rel: &str) -> String {
        format!("{}.{rel}", self.key)
    }

    /// The part of the section that `T` describes; errors are kept with their key path.
    pub fn extract<T: DeserializeOwned>(&mut self) -> Option<T> {
        match self.figment.focus(&self.key).extract::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                for mut e in e {
                    let mut path: Vec<String> = self.key.split('.').map(str::to_owned).collect();
                    path.append(&mut e.path);
                    e.path = path;
                    self.problems.push(problem_from_figment(e));
                }
                None
            }
        }
    }

    /// Rejects keys that none of `parts` takes. `elsewhere` explains keys that another
    /// venue kind takes: (key, reason).
    pub fn reject_unknown_keys(&mut self, parts: &[&[&'static str]], elsewhere: &[(&str, &str)]) {
        let Ok(section) = self.figment.find_value(&self.key) else {
            return;
        };
        let Some(dict) = section.as_dict() else {
            return;
        };
        let known: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        for key in dict.keys().filter(|k| !known.contains(&k.as_str())) {
            let reason = match elsewhere.iter().find(|(k, _)| k == key) {
                Some((_, why)) => (*why).to_owned(),
                None => format!("unknown key `{key}`; expected one of: {}", known.join(", ")),
            };
            self.problem(key, reason);
        }
    }

    /// A problem with the key `exchanges.<name>.<rel>`.
    pub fn problem(&mut self, rel: &str, reason: String) {
        let key = self.key(rel);
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        let origin = origin(self.figment.find_metadata(&key), &path);
        self.problems.push(Problem { key, origin, reason });
    }

    pub(super) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// The keys a derived `Deserialize` struct takes, as serde lists them.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(&'static [&'static str]);
    #[derive(Debug)]
    struct Listed;
    impl std::fmt::Display for Listed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names listed")
        }
    }
    impl std::error::Error for Listed {}
    impl de::Error for Listed {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Listed
        }
    }
    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = Listed;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Listed> {
            Err(Listed)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Listed> {
            self.0 = fields;
            Err(Listed)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut f = Fields(&[]);
    let _ = T::deserialize(&mut f);
    f.0
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        alpha: u8,
        #[serde(default)]
        beta: Option<String>,
    }

    #[test]
    fn fields_are_the_structs_keys() {
        assert_eq!(super::fields::<Two>(), ["alpha", "beta"]);
    }
}
