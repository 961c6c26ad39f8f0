//! The external proxy service's fallbacks, feedback and secrecy (see
//! `tests/proxy_service.rs`): each local and service fallback policy while the service
//! is down, feedback that never delays a connection, a `run` at trace level that never
//! logs the token, and a bad configuration refused at load.

mod support;

use feedhandler::net::Cause;
use feedhandler::sim::Playback;
use serde_json::json;
use std::time::{Duration, Instant};
use support::proxies::{Proxy, free_port};
use support::service::*;
use support::*;

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
