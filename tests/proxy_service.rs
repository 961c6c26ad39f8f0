//! The external proxy service, played by a local server that validates every request
//! against `api/proxy-service.openapi.yaml` (openapi-core), with real microsocks proxies
//! on loopback whose logs prove which proxy carried each request: routes handed out and
//! cached for their TTL, hostile answers refused or clamped, the circuit breaker
//! opening, probing and closing, and endpoint failover. Fallbacks, feedback and secrecy:
//! `tests/proxy_service_fallback.rs`.

mod support;

use feedhandler::net::Cause;
use serde_json::json;
use std::time::{Duration, Instant};
use support::proxies::Proxy;
use support::service::*;

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
    // Calls share kept-alive connections: one tunnel may carry all of them.
    let tunnels = to_service
        .log()
        .matches(&format!("connected to 127.0.0.1:{}", service.port))
        .count();
    assert!(
        tunnels >= 1 && service.calls("proxy/request").len() == 2,
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
