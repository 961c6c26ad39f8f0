//! The REST venue definitions known to this run: those shipped in `exchanges/` (compiled
//! in, so the binary works from any directory) plus `*.yaml` files of the directory named
//! by `venue_definitions:` in the main config, which add venues or replace shipped ones.
//! Each file is validated like the main config: file, key path and reason, all at once.

use super::definition::Definition;
use crate::config::{Problem, duplicate_keys, problem_from_figment};
use crate::model::VenueId;
use figment::Figment;
use figment::providers::{Format, Yaml};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shipped definitions: (file name, text).
const SHIPPED: &[(&str, &str)] = &[
    (
        "binance_rest.yaml",
        include_str!("../../../exchanges/binance_rest.yaml"),
    ),
    ("bitfinex.yaml", include_str!("../../../exchanges/bitfinex.yaml")),
    ("bitstamp.yaml", include_str!("../../../exchanges/bitstamp.yaml")),
    ("bybit.yaml", include_str!("../../../exchanges/bybit.yaml")),
    (
        "coinbase_rest.yaml",
        include_str!("../../../exchanges/coinbase_rest.yaml"),
    ),
    (
        "cryptocom.yaml",
        include_str!("../../../exchanges/cryptocom.yaml"),
    ),
    ("gate.yaml", include_str!("../../../exchanges/gate.yaml")),
    ("gemini.yaml", include_str!("../../../exchanges/gemini.yaml")),
    ("kraken.yaml", include_str!("../../../exchanges/kraken.yaml")),
    ("kucoin.yaml", include_str!("../../../exchanges/kucoin.yaml")),
    ("mexc.yaml", include_str!("../../../exchanges/mexc.yaml")),
    ("okx.yaml", include_str!("../../../exchanges/okx.yaml")),
];

/// One loaded definition and where it came from (`exchanges/kraken.yaml (shipped)` or
/// the file's path).
#[derive(Debug, Clone)]
pub struct Entry {
    pub definition: Arc<Definition>,
    pub origin: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<VenueId, Entry>,
}

impl Catalog {
    /// The shipped definitions only.
    pub fn shipped() -> Self {
        Self::load(None, &[]).expect("shipped definitions are valid (tested)")
    }

    /// The shipped definitions plus `dir`'s files. `reserved`: names taken by native
    /// venues, which a definition may not use.
    pub fn load(dir: Option<&Path>, reserved: &[&str]) -> Result<Self, Vec<Problem>> {
        let mut catalog = Self::default();
        let mut problems = Vec::new();
        for (file, text) in SHIPPED {
            let origin = format!("exchanges/{file} (shipped)");
            let figment = Figment::from(Yaml::string(text));
            catalog.add(file, text, figment, origin, reserved, &mut problems);
        }
        if let Some(dir) = dir {
            match files(dir) {
                Ok(paths) => {
                    for path in paths {
                        let file = path
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let origin = format!("file {}", path.display());
                        match std::fs::read_to_string(&path) {
                            Ok(text) => {
                                let figment = Figment::from(Yaml::file_exact(&path));
                                catalog.add(&file, &text, figment, origin, reserved, &mut problems);
                            }
                            Err(e) => problems.push(problem("", origin, format!("unreadable: {e}"))),
                        }
                    }
                }
                Err(e) => problems.push(problem(
                    "venue_definitions",
                    "config".into(),
                    format!("{} is not a readable directory: {e}", dir.display()),
                )),
            }
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    fn add(
        &mut self,
        file: &str,
        text: &str,
        figment: Figment,
        origin: String,
        reserved: &[&str],
        problems: &mut Vec<Problem>,
    ) {
        let before = problems.len();
        for key in duplicate_keys(text) {
            problems.push(problem(
                &key,
                origin.clone(),
                "this key is given twice; the last would silently win".into(),
            ));
        }
        let definition = match figment.extract::<Definition>() {
            Ok(d) => d,
            Err(e) => {
                problems.extend(e.into_iter().map(|e| Problem {
                    origin: origin.clone(),
                    ..problem_from_figment(e)
                }));
                return;
            }
        };
        for (key, reason) in definition.validate() {
            problems.push(problem(&key, origin.clone(), reason));
        }
        let stem = file.strip_suffix(".yaml").unwrap_or(file);
        if definition.name.as_str() != stem {
            problems.push(problem(
                "name",
                origin.clone(),
                format!("must equal the file's name, {stem}"),
            ));
        }
        if reserved.contains(&definition.name.as_str()) {
            problems.push(problem(
                "name",
                origin.clone(),
                format!(
                    "{} is a native venue; name a REST definition of it differently (e.g. {}_rest)",
                    definition.name, definition.name
                ),
            ));
        }
        if problems.len() == before {
            let entry = Entry {
                definition: Arc::new(definition),
                origin,
            };
            self.entries.insert(entry.definition.name, entry);
        }
    }

    pub fn get(&self, id: VenueId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.keys().map(|id| id.as_str())
    }
}

fn problem(key: &str, origin: String, reason: String) -> Problem {
    Problem {
        key: key.to_owned(),
        origin,
        reason,
    }
}

/// `dir/*.yaml`, sorted.
fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_definition_loads() {
        let catalog = super::Catalog::load(None, &[]).unwrap_or_else(|p| panic!("{p:#?}"));
        assert_eq!(catalog.names().count(), super::SHIPPED.len());
    }
}
