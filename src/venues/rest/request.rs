//! Request URLs from a definition's templates: the base URL (the main config's
//! `rest_url` or the definition's), the path and the query parameters with `{symbol}`,
//! `{market}`, `{limit}`, `{depth}` and `{cursor}` filled in. A parameter holding
//! `{cursor}` is left out until a cursor is known.

use std::collections::BTreeMap;
use url::Url;

/// The values a request's templates may use.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vars<'a> {
    pub symbol: &'a str,
    pub market: &'a str,
    pub limit: Option<u32>,
    pub depth: Option<u32>,
    pub cursor: Option<&'a str>,
}

fn fill(template: &str, v: &Vars<'_>) -> Option<String> {
    if template.contains("{cursor}") && v.cursor.is_none() {
        return None;
    }
    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    Some(
        template
            .replace("{symbol}", v.symbol)
            .replace("{market}", v.market)
            .replace("{limit}", &num(v.limit))
            .replace("{depth}", &num(v.depth))
            .replace("{cursor}", v.cursor.unwrap_or_default()),
    )
}

/// `base` + `path` + `?params`, filled from `vars`.
pub fn url(
    base: &Url,
    path: &str,
    params: &BTreeMap<String, String>,
    vars: &Vars<'_>,
) -> Result<Url, String> {
    let path = fill(path, vars).unwrap_or_default();
    let text = format!("{}{path}", base.as_str().trim_end_matches('/'));
    let mut url = Url::parse(&text).map_err(|e| format!("{text}: {e}"))?;
    let pairs: Vec<(&String, String)> = params
        .iter()
        .filter_map(|(k, t)| Some((k, fill(t, vars)?)))
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_the_cursor_waits() {
        let base = Url::parse("https://api.kraken.com/").unwrap();
        let params: BTreeMap<String, String> =
            [("pair", "{symbol}"), ("count", "{limit}"), ("since", "{cursor}")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let mut vars = Vars {
            symbol: "XXBTZUSD",
            limit: Some(1000),
            ..Vars::default()
        };
        let first = url(&base, "/0/public/Trades", &params, &vars).unwrap();
        assert_eq!(
            first.as_str(),
            "https://api.kraken.com/0/public/Trades?count=1000&pair=XXBTZUSD"
        );
        vars.cursor = Some("1616663113");
        let next = url(&base, "/0/public/Trades", &params, &vars).unwrap();
        assert_eq!(next.query(), Some("count=1000&pair=XXBTZUSD&since=1616663113"));
        let path = url(&base, "/v2/trades/{symbol}/hist", &BTreeMap::new(), &vars).unwrap();
        assert_eq!(path.path(), "/v2/trades/XXBTZUSD/hist");
    }
}
