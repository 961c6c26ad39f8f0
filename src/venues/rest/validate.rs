//! The rules of the definition format that serde cannot express (exactly one of two
//! keys, placeholders a template may hold, limits in order), checked all at once so a
//! definition's author sees every problem, each with its key path.

use super::definition::{Definition, Limit, SideRule};
/// Placeholders each template may hold.
const PATH_VARS: &[&str] = &["symbol", "market"];
const TRADE_VARS: &[&str] = &["symbol", "market", "limit", "cursor"];
const BOOK_VARS: &[&str] = &["symbol", "market", "depth"];
const ID_VARS: &[&str] = &["base", "quote"];

impl Definition {
    /// Rules across keys, as (key path, reason); empty when the definition is sound.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, reason: String| out.push((key.to_owned(), reason));
        if !matches!(self.rest_url.scheme(), "http" | "https") {
            bad("rest_url", "must be an http:// or https:// URL".into());
        }
        let r = &self.rate_limit;
        if r.requests.is_some() == r.weight.is_some() {
            bad("rate_limit", "give exactly one of `requests` and `weight`".into());
        }
        if r.budget() == 0 || r.per_seconds == 0 {
            bad(
                "rate_limit",
                "requests, weight and per_seconds must be at least 1".into(),
            );
        }
        if self.trades.is_none() && self.book.is_none() {
            bad(
                "trades",
                "a definition needs a trades or a book request (or both)".into(),
            );
        }
        if self.markets.spot.is_none() && self.markets.perp.is_none() {
            bad("markets", "define at least one of `spot` and `perp`".into());
        }
        for (name, m) in [("spot", &self.markets.spot), ("perp", &self.markets.perp)] {
            let Some(m) = m else { continue };
            let key = format!("markets.{name}");
            match (&m.id, &m.instruments) {
                (None, None) => bad(&key, "give an `id` rule or an `instruments` list".into()),
                (Some(id), _) => template(&format!("{key}.id"), id, ID_VARS, &mut bad),
                _ => {}
            }
            if let Some(i) = &m.instruments {
                let both = i.base.is_some() && i.quote.is_some();
                let split = i.pair.is_some() && i.separator.is_some();
                if both == split {
                    bad(
                        &format!("{key}.instruments"),
                        "give `base` and `quote`, or `pair` and `separator`".into(),
                    );
                }
            }
        }
        if let Some(t) = &self.trades {
            template("trades.path", &t.path, PATH_VARS, &mut bad);
            for (k, v) in &t.params {
                template(&format!("trades.params.{k}"), v, TRADE_VARS, &mut bad);
            }
            limit("trades.limit", &t.limit, &mut bad);
            let cursor_param = t.params.values().any(|v| v.contains("{cursor}"));
            match &t.cursor {
                Some(c) if c.answer.is_some() == c.next_id => bad(
                    "trades.cursor",
                    "give exactly one of `answer` and `next_id: true`".into(),
                ),
                Some(_) if !cursor_param => bad("trades.cursor", "no parameter sends `{cursor}`".into()),
                None if cursor_param => bad(
                    "trades.params",
                    "`{cursor}` is used but no `cursor` is defined".into(),
                ),
                Some(c) if c.next_id && t.fields.id.is_none() => {
                    bad("trades.cursor.next_id", "needs `fields.id`".into())
                }
                _ => {}
            }
            let sign = matches!(t.side, SideRule::Sign(_));
            if sign == t.fields.side.is_some() {
                bad(
                    "trades.side",
                    "with `fields.side` give its values (`{b: buy, s: sell}`); without it, `amount_sign`"
                        .into(),
                );
            }
        }
        if let Some(b) = &self.book {
            template("book.path", &b.path, &["symbol", "market", "depth"], &mut bad);
            for (k, v) in &b.params {
                template(&format!("book.params.{k}"), v, BOOK_VARS, &mut bad);
            }
            limit("book.depth", &b.depth, &mut bad);
            if (b.bids.is_some() && b.asks.is_some()) == b.levels.is_some()
                || b.bids.is_some() != b.asks.is_some()
            {
                bad(
                    "book",
                    "give `bids` and `asks`, or `levels` (one list, sides by amount sign)".into(),
                );
            }
        }
        out
    }
}

fn limit(key: &str, l: &Limit, bad: &mut impl FnMut(&str, String)) {
    if l.default == 0 || l.default > l.max {
        bad(key, format!("default must be 1-max ({})", l.max));
    }
    if !l.values.is_empty() && (l.values.windows(2).any(|w| w[0] >= w[1]) || l.values.last() != Some(&l.max))
    {
        bad(key, "values must increase and end at max".into());
    }
}

/// Checks that `text` names only `vars` in braces.
fn template(key: &str, text: &str, vars: &[&str], bad: &mut impl FnMut(&str, String)) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return bad(key, format!("unclosed `{{` in {text:?}"));
        };
        let name = &rest[open + 1..open + close];
        if !vars.contains(&name) {
            let known: Vec<String> = vars.iter().map(|v| format!("{{{v}}}")).collect();
            bad(
                key,
                format!(
                    "unknown placeholder {{{name}}}; expected one of: {}",
                    known.join(", ")
                ),
            );
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        bad(key, format!("unopened `}}` in {text:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::definition::*;
    use crate::config::fields;

    /// `exchanges/schema.json` lists exactly the keys each struct takes, so the schema
    /// editors use cannot drift from what the loader reads.
    #[test]
    fn the_schema_lists_the_structs_keys() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../exchanges/schema.json")).unwrap();
        let keys = |node: &serde_json::Value| {
            let mut k: Vec<String> = node["properties"].as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let sorted = |f: &[&str]| {
            let mut k: Vec<String> = f.iter().map(|s| (*s).to_owned()).collect();
            k.sort();
            k
        };
        assert_eq!(keys(&schema), sorted(fields::<Definition>()), "Definition");
        for (name, f) in [
            ("RateLimit", fields::<RateLimit>()),
            ("Costs", fields::<Costs>()),
            ("Markets", fields::<Markets>()),
            ("Market", fields::<Market>()),
            ("Instruments", fields::<Instruments>()),
            ("ErrorRule", fields::<ErrorRule>()),
            ("Limit", fields::<Limit>()),
            ("TradesRequest", fields::<TradesRequest>()),
            ("TradeFields", fields::<TradeFields>()),
            ("Cursor", fields::<Cursor>()),
            ("BookRequest", fields::<BookRequest>()),
            ("LevelLayout", fields::<LevelLayout>()),
            ("Stamp", fields::<Stamp>()),
        ] {
            assert_eq!(keys(&schema["$defs"][name]), sorted(f), "{name}");
        }
    }
}
