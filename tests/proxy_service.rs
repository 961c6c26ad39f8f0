//! The external proxy service, played by a local server that validates every request
//! against `api/proxy-service.openapi.yaml` (openapi-core), with real microsocks proxies
//! on loopback whose logs prove which proxy carried each request: routes handed out and
//! cached for their TTL, hostile answers refused or clamped, the circuit breaker
//! opening, probing and closing, each fallback policy, feedback that never delays a
//! connection, and a `run` at trace level that never logs the token.

mod support;

use feedhandler::model::VenueId;
use feedhandler::net::{Cause, ConnectError, ConnectionFactory};
use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::proxies::{Proxy, free_port};
use support::service::ProxyService;
use support::*;

const TOKEN: &str = "svc-TOKEN-4f1c9e";

/// Requests a microsocks proxy relayed to the venue.
fn relayed(p: &Proxy, venue: &LocalVenue) -> usize {
    p.log()
        .matches(&format!("connected to localhost:{}", venue.addr.port()))
        .count()
}

struct Client {
    factory: Arc<ConnectionFactory>,
    url: url::Url,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Client {
    /// A factory from a configuration with `service` (keys under `external_service`)
    /// and `default_http` as the embedded proxy, if any.
    fn new(venue: &LocalVenue, service: &str, default_http: Option<String>) -> Self {
        let default = default_http.map_or(String::new(), |p| format!("  default:\n    http: \"{p}\"\n"));
        let yaml = format!(
            "proxy:\n{default}  external_service:\n{service}\
             exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades]\n    ws_url: {}\n    rest_url: {}\n\
             tls:\n  ca_file: {}\n",
            venue.ws_url(),
            venue.rest_url(),
            venue.ca.ca_pem.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), "svc.yaml", &yaml);
        let config = feedhandler::config::load(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let factory = ConnectionFactory::from_config(&config).unwrap();
        let (stop, rx) = tokio::sync::watch::channel(false);
        factory.start_background(rx);
        let url = url::Url::parse(&format!("{}/api/v3/exchangeInfo", venue.rest_url())).unwrap();
        Self {
            factory,
            url,
            _stop: stop,
            _dir: dir,
        }
    }

    async fn get(&self) -> Result<(), ConnectError> {
        let binance = VenueId::new("binance").unwrap();
        self.factory.http(binance).get(&self.url).await.map(|_| ())
    }
}

/// `external_service` keys for `service`: bearer token, 1 s timeout, breaker after
/// `threshold` failures for 2 s, and `fallback`.
fn keys(endpoint: &str, threshold: u32, fallback: &str) -> String {
    keys_with(&format!("[\"{endpoint}\"]"), threshold, 2, fallback)
}

/// The same with a list of endpoints and the breaker's recovery time.
fn keys_with(endpoints: &str, threshold: u32, recovery_s: u32, fallback: &str) -> String {
    format!(
        "    endpoints: {endpoints}\n    auth: {{ bearer_token: \"{TOKEN}\" }}\n    timeout_seconds: 1\n\
         \x20   circuit_breaker: {{ failure_threshold: {threshold}, recovery_timeout_seconds: {recovery_s} }}\n\
         \x20   fallback: {fallback}\n    client_id: test-client\n    feedback_queue: 4\n"
    )
}

async fn venue() -> LocalVenue {
    LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handed_out_proxy_is_used_and_cached_for_its_ttl() {
    let (venue, service, proxy) = (
        venue().await,
        ProxyService::start(Some(TOKEN)),
        Proxy::microsocks(None).await,
    );
    service.control(json!({"proxy_url": proxy.url("socks5h", None), "ttl_seconds": 3}));
    // The service itself is reached through a proxy of its own.
    let to_service = Proxy::microsocks(None).await;
    let via = format!("    proxy: \"{}\"\n", to_service.url("socks5h", None));
    let client = Client::new(&venue, &(keys(&service.url(), 5, "embedded") + &via), None);
    for _ in 0..3 {
        client.get().await.unwrap();
    }
    assert_eq!(
        relayed(&proxy, &venue),
        3,
        "every request through the handed-out proxy"
    );
    assert_eq!(service.calls("proxy/request").len(), 1, "one answer, cached");
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    client.get().await.unwrap();
    let asked = service.calls("proxy/request");
    assert_eq!(asked.len(), 2, "asked again after the TTL");
    assert_eq!(
        asked[0]["body"],
        json!({"exchange_id": "binance", "connection_type": "http", "region": null,
               "client_id": "test-client", "metadata": {"version": env!("CARGO_PKG_VERSION")}})
    );
    let feedback = service.wait_calls("proxy/feedback", 4).await;
    for f in &feedback {
        let b = &f["body"];
        assert_eq!(b["success"], true, "{f}");
        assert_eq!(b["proxy_url"], proxy.url("socks5h", None), "{f}");
        assert!(
            b["latency_ms"].as_u64().is_some() && b["error_details"].is_null(),
            "{f}"
        );
    }
    service.assert_all_valid();
    assert_eq!(venue.sim.http_requests(), 4);
    let calls = to_service
        .log()
        .matches(&format!("connected to 127.0.0.1:{}", service.port))
        .count();
    assert!(
        calls >= 2,
        "the service's own proxy carried its calls: {}",
        to_service.log()
    );
    assert_eq!(relayed(&to_service, &venue), 0, "and nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_failed_answers_fall_back_and_good_ones_are_kept() {
    let venue = venue().await;
    let service = ProxyService::start(Some(TOKEN));
    let (handed, embedded) = (Proxy::microsocks(None).await, Proxy::microsocks(None).await);
    let secured = Proxy::microsocks(Some(("svcuser", "svc-Secret-9"))).await;
    let bad = [
        json!({"garbage": true}),
        json!({"status": 500}),
        json!({"status": 503}),
        json!({"huge_body_mb": 10, "proxy_url": handed.url("socks5h", None)}),
        json!({"proxy_url": "ftp://127.0.0.1:21"}),
        json!({"proxy_url": "file:///etc/passwd"}),
        json!({"proxy_url": handed.url("socks5h", None), "ttl_seconds": -5}),
        json!({"proxy_url": handed.url("socks5h", None), "fallback_policy": "sometimes"}),
        json!({"omit": ["proxy_url"], "proxy_url": handed.url("socks5h", None)}),
        json!({"proxy_url": handed.url("socks5h", None), "delay_ms": 3_000}),
    ];
    for (i, mode) in bad.iter().enumerate() {
        service.control(mode.clone());
        let client = Client::new(
            &venue,
            &keys(&service.url(), 100, "embedded"),
            Some(embedded.url("socks5h", None)),
        );
        let started = Instant::now();
        client.get().await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(
            started.elapsed() < Duration::from_millis(2_500),
            "{mode}: waited past the service timeout"
        );
        assert_eq!(
            relayed(&embedded, &venue),
            i + 1,
            "{mode}: the embedded proxy took it"
        );
    }
    assert_eq!(relayed(&handed, &venue), 0, "no refused answer was used");
    // A TTL of 10^12 s is clamped (to a day), not refused: the answer is used and kept.
    service.control(json!({"proxy_url": handed.url("socks5h", None), "ttl_seconds": 1_000_000_000_000u64}));
    let client = Client::new(&venue, &keys(&service.url(), 100, "embedded"), None);
    let before = service.calls("proxy/request").len();
    client.get().await.unwrap();
    client.get().await.unwrap();
    assert_eq!(
        (
            relayed(&handed, &venue),
            service.calls("proxy/request").len() - before
        ),
        (2, 1)
    );
    // Credentials in a handed-out URL are used, and never repeated: not in feedback,
    // not in errors.
    let good = secured.url("socks5h", Some(("svcuser", "svc-Secret-9")));
    service.control(json!({"proxy_url": good, "ttl_seconds": 60}));
    let client = Client::new(&venue, &keys(&service.url(), 100, "fail"), None);
    client.get().await.unwrap();
    assert_eq!(relayed(&secured, &venue), 1);
    let wrong = secured.url("socks5h", Some(("svcuser", "wrong-Pass-7")));
    service.control(json!({"proxy_url": wrong, "ttl_seconds": 60}));
    let client = Client::new(&venue, &keys(&service.url(), 100, "fail"), None);
    let e = client.get().await.unwrap_err();
    assert!(matches!(e.cause, Cause::ProxyAuth(_)), "{e}");
    assert!(
        !e.to_string().contains("wrong-Pass-7") && !e.to_string().contains("svcuser"),
        "{e}"
    );
    let secured_url = secured.url("socks5h", None);
    for _ in 0..100 {
        let reports = service.calls("proxy/feedback");
        if reports
            .iter()
            .filter(|f| f["body"]["proxy_url"] == secured_url.as_str())
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let feedback = service.calls("proxy/feedback");
    let secured_reports: Vec<_> = (feedback.iter())
        .filter(|f| f["body"]["proxy_url"] == secured_url.as_str())
        .map(|f| f["body"]["success"].clone())
        .collect();
    assert_eq!(
        secured_reports,
        [json!(true), json!(false)],
        "one success, one credentials failure"
    );
    for f in feedback {
        let text = f.to_string();
        assert!(
            !text.contains("Secret-9") && !text.contains("wrong-Pass") && !text.contains("svcuser"),
            "{text}"
        );
    }
    service.assert_all_valid();
}

/// Up → down (stale cache, then the circuit opens and the service is not asked) → the
/// handed-out proxy dies (embedded) → the service is back (half-open probe, closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_probes_and_closes_while_routes_degrade_in_order() {
    let venue = venue().await;
    let service = ProxyService::start(Some(TOKEN));
    let (mut handed, embedded, later) = (
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
    );
    service.control(json!({"proxy_url": handed.url("socks5h", None), "ttl_seconds": 0}));
    // Recovery after 4 s: the steps below take far less, so no probe comes early.
    let client = Client::new(
        &venue,
        &keys_with(&format!("[\"{}\"]", service.url()), 2, 4, "embedded"),
        Some(embedded.url("socks5h", None)),
    );
    let asked = || service.calls("proxy/request").len();
    let phase = |name: &str, asked: usize, proxies: [&Proxy; 3]| {
        let by = ["handed-out", "embedded", "new"]
            .iter()
            .zip(proxies)
            .map(|(n, p)| format!("{n} {}", relayed(p, &venue)))
            .collect::<Vec<_>>()
            .join(", ");
        println!("phase {name:<28} service asked {asked} times; requests relayed by proxy: {by}");
    };
    client.get().await.unwrap();
    phase("service up", asked(), [&handed, &embedded, &later]);
    assert_eq!((asked(), relayed(&handed, &venue)), (1, 1));

    service.control(json!({"down": true}));
    client.get().await.unwrap();
    client.get().await.unwrap();
    phase(
        "service down: stale answer",
        asked(),
        [&handed, &embedded, &later],
    );
    assert_eq!(
        (asked(), relayed(&handed, &venue)),
        (3, 3),
        "asked twice (breaker threshold), stale answer used"
    );
    client.get().await.unwrap();
    phase("circuit open", asked(), [&handed, &embedded, &later]);
    assert_eq!(
        (asked(), relayed(&handed, &venue)),
        (3, 4),
        "an open circuit does not ask"
    );

    handed.kill();
    let e = client.get().await.unwrap_err();
    assert!(matches!(e.cause, Cause::ProxyUnreachable(_)), "{e}");
    client.get().await.unwrap();
    phase(
        "stale proxy dead: embedded",
        asked(),
        [&handed, &embedded, &later],
    );
    assert_eq!(
        relayed(&embedded, &venue),
        1,
        "the failed stale answer is forgotten"
    );

    service.control(json!({"proxy_url": later.url("socks5h", None), "ttl_seconds": 60}));
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    client.get().await.unwrap();
    client.get().await.unwrap();
    phase(
        "service back: probe, closed",
        asked(),
        [&handed, &embedded, &later],
    );
    assert_eq!(
        (asked(), relayed(&later, &venue)),
        (4, 2),
        "one probe closed the circuit; its answer is cached"
    );
    let requests = service.calls("proxy/request");
    assert_eq!(requests.iter().filter(|r| r["dropped"] == true).count(), 2);
    service.assert_all_valid();
}

/// Two endpoints (API key auth): the first fails, the second answers; the failed one is
/// skipped, and after the recovery time used again only once its health endpoint answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_fail_over_and_come_back_after_their_health_check() {
    let venue = venue().await;
    let first = ProxyService::start_with(&["--api-key", TOKEN]);
    let second = ProxyService::start_with(&["--api-key", TOKEN]);
    let proxy = Proxy::microsocks(None).await;
    let mode = json!({"proxy_url": proxy.url("socks5h", None), "ttl_seconds": 0});
    first.control(json!({"status": 503}));
    second.control(mode.clone());
    let endpoints = format!("[\"{}\", \"{}\"]", first.url(), second.url());
    let keys = keys_with(&endpoints, 5, 2, "fail").replace("bearer_token", "api_key");
    let client = Client::new(&venue, &keys, None);
    let asked = |s: &ProxyService| (s.calls("proxy/request").len(), s.calls("health").len());
    client.get().await.unwrap();
    client.get().await.unwrap();
    assert_eq!(
        (asked(&first), asked(&second)),
        ((1, 0), (2, 0)),
        "the failed endpoint is skipped"
    );
    first.control(json!({"health_status": 503}));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    client.get().await.unwrap();
    assert_eq!(
        (asked(&first), asked(&second)),
        ((1, 1), (3, 0)),
        "unhealthy: skipped again"
    );
    first.control(mode.clone());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    client.get().await.unwrap();
    assert_eq!(
        (asked(&first), asked(&second)),
        ((2, 2), (3, 0)),
        "healthy: used again"
    );
    assert_eq!(relayed(&proxy, &venue), 4);
    for s in [&first, &second] {
        s.assert_all_valid();
        assert!(s.calls("proxy/request").iter().all(|r| r["auth"] == "api_key"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fallback_policy_behaves_as_configured() {
    let venue = venue().await;
    let embedded = Proxy::microsocks(None).await;
    // Nothing listens there: the service is down from the start.
    let down = format!("http://127.0.0.1:{}", free_port());
    let via_embedded = Some(embedded.url("socks5h", None));
    let client = Client::new(&venue, &keys(&down, 2, "embedded"), via_embedded.clone());
    client.get().await.unwrap();
    assert_eq!(relayed(&embedded, &venue), 1, "embedded: the configured proxy");

    let client = Client::new(&venue, &keys(&down, 2, "embedded"), None);
    let e = client.get().await.unwrap_err();
    assert!(
        matches!(e.cause, Cause::NoRoute(_)),
        "embedded with nothing configured fails: {e}"
    );
    assert!(
        e.to_string().contains("via no route: proxy service unavailable, no cached answer, and the fallback policies (local embedded"),
        "{e}"
    );

    let client = Client::new(&venue, &keys(&down, 2, "fail"), via_embedded.clone());
    let e = client.get().await.unwrap_err();
    assert!(matches!(e.cause, Cause::NoRoute(_)), "fail: {e}");
    assert_eq!(
        relayed(&embedded, &venue),
        1,
        "fail does not use the configured proxy"
    );

    let requests_before = venue.sim.http_requests();
    let client = Client::new(&venue, &keys(&down, 2, "direct"), None);
    client.get().await.unwrap();
    assert_eq!(
        venue.sim.http_requests(),
        requests_before + 1,
        "direct: allowed by the local policy"
    );
    assert_eq!(relayed(&embedded, &venue), 1);

    // The service's own policy: direct_connection allows direct although the local
    // fallback is `embedded`; `fail` forbids the configured proxy; a local `fail` is
    // not overruled by the service's direct_connection.
    let service = ProxyService::start(Some(TOKEN));
    for (policy, embedded_proxy, local) in [
        ("direct_connection", None, "embedded"),
        ("fail", via_embedded.clone(), "embedded"),
        ("direct_connection", None, "fail"),
    ] {
        let mut handed = Proxy::microsocks(None).await;
        service.control(
            json!({"proxy_url": handed.url("socks5h", None), "ttl_seconds": 0, "fallback_policy": policy}),
        );
        let client = Client::new(&venue, &keys(&service.url(), 2, local), embedded_proxy);
        client.get().await.unwrap();
        handed.kill();
        service.control(json!({"down": true}));
        let _ = client.get().await.unwrap_err();
        let before = venue.sim.http_requests();
        let result = client.get().await;
        match (policy, local) {
            ("direct_connection", "embedded") => {
                result.unwrap();
                assert_eq!(
                    venue.sim.http_requests(),
                    before + 1,
                    "direct after the service's policy"
                );
            }
            _ => {
                let e = result.unwrap_err();
                assert!(
                    matches!(e.cause, Cause::NoRoute(_)),
                    "{policy}, local {local}: {e}"
                );
                assert_eq!(venue.sim.http_requests(), before, "nothing went direct");
                assert_eq!(relayed(&embedded, &venue), 1, "`fail` forbids the embedded proxy");
            }
        }
        service.control(json!({}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_feedback_never_delays_a_connection_and_what_does_not_fit_is_counted() {
    feedhandler::metrics::enable(false);
    let dropped = || {
        let scrape = feedhandler::metrics::scrape();
        (scrape.lines())
            .find(|l| l.starts_with("feedhandler_proxy_service_feedback_total{result=\"dropped\"}"))
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
    };
    let dropped_before = dropped();
    let (venue, service, proxy) = (
        venue().await,
        ProxyService::start(Some(TOKEN)),
        Proxy::microsocks(None).await,
    );
    service.control(
        json!({"proxy_url": proxy.url("socks5h", None), "ttl_seconds": 60, "feedback_delay_ms": 10_000}),
    );
    // Calls may take 30 s: the report in flight waits the whole 10 s.
    let slow = keys(&service.url(), 5, "embedded").replace("timeout_seconds: 1", "timeout_seconds: 30");
    let client = Client::new(&venue, &slow, None);
    let started = Instant::now();
    for _ in 0..12 {
        let one = Instant::now();
        client.get().await.unwrap();
        assert!(
            one.elapsed() < Duration::from_secs(2),
            "a connection waited for feedback"
        );
    }
    let elapsed = started.elapsed();
    println!(
        "12 requests with feedback answered after 10 s each: {} ms",
        elapsed.as_millis()
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(relayed(&proxy, &venue), 12);
    // One report in flight, four queued: the rest were dropped and counted (other tests
    // of this binary may count some too).
    let n = dropped() - dropped_before;
    assert!(n >= 7, "{n} dropped");
}

/// `run` at trace level through the service: the WebSocket and REST go through the
/// handed-out proxy, every call matches the spec, and the token is in no log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_through_the_service_never_logs_the_token() {
    let (venue, service, proxy) = (
        venue().await,
        ProxyService::start(Some(TOKEN)),
        Proxy::microsocks(None).await,
    );
    service.control(json!({"proxy_url": proxy.url("socks5h", None), "ttl_seconds": 300}));
    let yaml = format!(
        "proxy:\n  external_service:\n    endpoints: [\"{}\"]\n    client_id: run-client\n\
         exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}\n\
         tls:\n  ca_file: {}\n",
        service.url(),
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "svc.yaml", &yaml);
    let token_env = ("FEEDHANDLER_PROXY__EXTERNAL_SERVICE__AUTH__BEARER_TOKEN", TOKEN);
    let mut check = command(&["check", "--config", cfg.to_str().unwrap()]);
    let plan = check.env(token_env.0, token_env.1).output().await.unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        plan.contains(&format!("proxy service [{}/] via direct", service.url())),
        "{plan}"
    );
    assert!(!plan.contains(TOKEN), "{plan}");
    let mut cmd = command(&["--log", "trace", "run", "--config", cfg.to_str().unwrap()]);
    cmd.env(token_env.0, token_env.1);
    let out = run_until_played(cmd, &venue, Duration::from_millis(500)).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.lines().count() > 1_000, "events flowed");
    assert!(
        relayed(&proxy, &venue) >= 3,
        "instruments, WebSocket and snapshot via the proxy"
    );
    assert_eq!(venue.sim.connections() as usize, 1);
    assert!(out.stderr.lines().count() > 100, "trace logging was on");
    assert!(
        !out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN),
        "the token was logged"
    );
    let kinds: Vec<String> = (service.calls("proxy/request").iter())
        .map(|r| r["body"]["connection_type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"http".into()) && kinds.contains(&"websocket".into()),
        "{kinds:?}"
    );
    service.wait_calls("proxy/feedback", 3).await;
    service.assert_all_valid();
}

/// A bad `external_service` section fails at load with every problem's key path, and
/// never repeats the token.
#[tokio::test]
async fn a_bad_service_section_is_refused_at_load_with_each_key() {
    let yaml = "proxy:\n  external_service:\n    endpoints: [\"ftp://svc:21\", \"https://u:p@svc\"]\n\
                \x20   auth: { bearer_token: \"tok-Leak-1\", api_key: \"key-Leak-2\" }\n    timeout_seconds: 0\n\
                \x20   circuit_breaker: { failure_threshold: 0 }\n    proxy: { pool: [\"socks5h://a:1080\"] }\n\
                exchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades] }\n";
    let (code, _, stderr) = check(yaml, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    for needle in [
        "proxy.external_service.endpoints",
        "endpoint 0: must be http:// or https://",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(!stderr.contains("Leak") && !stderr.contains("u:p@"), "{stderr}");
    let yaml = yaml.replace("\"ftp://svc:21\", \"https://u:p@svc\"", "\"https://svc\"");
    let (code, _, stderr) = check(&yaml, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    for needle in [
        "proxy.external_service.auth",
        "give one of bearer_token and api_key",
        "proxy.external_service.timeout_seconds",
        "proxy.external_service.circuit_breaker.failure_threshold",
        "proxy.external_service.proxy",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(!stderr.contains("Leak"), "{stderr}");
}
