//! Tests of the configured resolver: precedence (exchange override, regional rules,
//! default, direct), pools shared across exchanges, and what ejects a member.
use super::*;
use crate::config::ProxyUrl;

fn id(name: &str) -> VenueId {
    VenueId::new(name).unwrap()
}

fn endpoint(url: &str) -> Option<ProxySetting> {
    Some(ProxySetting::Via(ProxyEndpoint {
        url: ProxyUrl::try_from(url.to_owned()).unwrap(),
        timeout_seconds: 30,
    }))
}

fn resolver(enabled: bool) -> StaticResolver {
    let mut exchanges = BTreeMap::new();
    exchanges.insert(
        id("binance"),
        KindProxies {
            http: endpoint("http://binance-proxy:8080"),
            websocket: None,
        },
    );
    StaticResolver::new(&ProxyConfig {
        enabled,
        default: KindProxies {
            http: endpoint("socks5h://default:1080"),
            websocket: endpoint("socks5://default-ws:1081"),
        },
        exchanges,
        regional: None,
        external_service: None,
    })
}

#[test]
fn exchange_override_then_default_per_kind() {
    let r = resolver(true);
    let pick = |ex, kind| r.pick(ex, kind).to_string();
    assert_eq!(pick(id("binance"), ConnKind::Http), "http://binance-proxy:8080");
    assert_eq!(
        pick(id("binance"), ConnKind::Websocket),
        "socks5://default-ws:1081"
    );
    assert_eq!(
        pick(id("binance_futures"), ConnKind::Http),
        "socks5h://default:1080"
    );
}

#[test]
fn an_exchange_can_opt_out_of_the_default_proxy() {
    let mut config = ProxyConfig::default();
    config.default.websocket = endpoint("socks5h://default:1080");
    config.exchanges.insert(
        id("coinbase"),
        KindProxies {
            http: None,
            websocket: Some(ProxySetting::Direct),
        },
    );
    let r = StaticResolver::new(&config);
    assert_eq!(r.pick(id("coinbase"), ConnKind::Websocket), Route::Direct);
    assert_eq!(
        r.pick(id("binance"), ConnKind::Websocket).to_string(),
        "socks5h://default:1080"
    );
}

#[test]
fn disabled_is_direct_for_everything() {
    let r = resolver(false);
    for ex in [id("binance"), id("binance_futures")] {
        for kind in [ConnKind::Http, ConnKind::Websocket] {
            assert_eq!(r.pick(ex, kind), Route::Direct);
        }
    }
}

#[test]
fn nothing_configured_is_direct() {
    let r = StaticResolver::new(&ProxyConfig::default());
    assert_eq!(r.pick(id("binance"), ConnKind::Websocket), Route::Direct);
}

fn pool(urls: &[&str]) -> ProxySetting {
    let yaml = format!("{{pool: [{}], strategy: round_robin}}", urls.join(", "));
    serde_yaml::from_str(&yaml).unwrap()
}

/// Precedence: exchange override → first matching regional rule → default → direct.
#[test]
fn regional_rules_sit_between_the_exchange_override_and_the_default() {
    let yaml = r#"
default: { http: "socks5h://default:1080" }
exchanges:
  coinbase: { http: "http://coinbase-only:3128" }
regional:
  region: US
  rules:
    - { regions: [CN], exchanges: ["*"], proxy: "socks5://cn:1080" }
    - { regions: [US, CA], exchanges: [binance], proxy: direct }
    - { regions: [us], exchanges: ["*"], proxy: { pool: ["socks5h://us1:1080", "socks5h://us2:1080"] } }
"#;
    let config: ProxyConfig = serde_yaml::from_str(yaml).unwrap();
    let r = StaticResolver::new(&config);
    let d = |ex: &str| r.describe(id(ex), ConnKind::Http);
    assert_eq!(
        d("coinbase"),
        "http://coinbase-only:3128 (timeout 30 s) [exchange override]"
    );
    assert_eq!(d("binance"), "direct [regional rule 2 (region US)]");
    assert!(
        d("kraken").starts_with("pool round_robin [socks5h://us1:1080, socks5h://us2:1080]"),
        "{}",
        d("kraken")
    );
    assert!(
        d("kraken").ends_with("[regional rule 3 (region US)]"),
        "{}",
        d("kraken")
    );
    // A rule's proxy serves both kinds.
    assert_eq!(r.describe(id("kraken"), ConnKind::Websocket), d("kraken"));
    // Elsewhere only the CN rule applies.
    let mut cn = config.clone();
    cn.regional.as_mut().unwrap().region = Some("CN".into());
    let r = StaticResolver::new(&cn);
    assert_eq!(
        r.describe(id("binance"), ConnKind::Http),
        "socks5://cn:1080 (timeout 30 s) [regional rule 1 (region CN)]"
    );
    // In a region no rule names, the default.
    let mut de = config.clone();
    de.regional.as_mut().unwrap().region = Some("DE".into());
    let r = StaticResolver::new(&de);
    assert_eq!(
        r.describe(id("binance"), ConnKind::Http),
        "socks5h://default:1080 (timeout 30 s) [default]"
    );
    assert_eq!(
        r.pick(id("binance"), ConnKind::Http).to_string(),
        "socks5h://default:1080"
    );
}

#[test]
fn one_pool_object_serves_every_exchange_that_uses_it() {
    let mut config = ProxyConfig::default();
    config.default.websocket = Some(pool(&["socks5h://a:1080", "socks5h://b:1080"]));
    let r = StaticResolver::new(&config);
    let picks: Vec<String> = ["binance", "coinbase", "binance", "coinbase"]
        .iter()
        .map(|ex| r.pick(id(ex), ConnKind::Websocket).to_string())
        .collect();
    assert_eq!(
        picks,
        [
            "socks5h://a:1080",
            "socks5h://b:1080",
            "socks5h://a:1080",
            "socks5h://b:1080"
        ]
    );
}

#[test]
fn only_proxy_failures_eject_pool_members() {
    let mut config = ProxyConfig::default();
    config.default.http = Some(pool(&[
        "socks5h://a:1080",
        "socks5h://b:1080",
        "socks5h://c:1080",
    ]));
    let r = StaticResolver::new(&config);
    let a = r.pick(id("binance"), ConnKind::Http);
    let venue = Cause::Status {
        status: 429,
        body: String::new(),
        retry_after_s: None,
    };
    for _ in 0..10 {
        r.report(id("binance"), ConnKind::Http, &a, Outcome::Failure(&venue));
    }
    assert!(r.can_fail_over(id("binance"), ConnKind::Http, &a.to_string()));
    let picks: Vec<String> = (0..3)
        .map(|_| r.pick(id("binance"), ConnKind::Http).to_string())
        .collect();
    assert!(
        picks.contains(&a.to_string()),
        "a venue's 429 ejects nobody: {picks:?}"
    );
    let dead = Cause::ProxyUnreachable("connection refused".into());
    for _ in 0..3 {
        r.report(id("binance"), ConnKind::Http, &a, Outcome::Failure(&dead));
    }
    let picks: Vec<String> = (0..6)
        .map(|_| r.pick(id("binance"), ConnKind::Http).to_string())
        .collect();
    assert!(
        !picks.contains(&a.to_string()),
        "ejected after 3 proxy failures: {picks:?}"
    );
}
