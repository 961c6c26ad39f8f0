//! Proxy pools with real proxies on loopback (microsocks members, a delaying relay, and
//! the local venues): failover when the member a WebSocket uses is killed (-9) or frozen
//! (SIGSTOP), health checks that eject and restore members, no connection ever direct;
//! and the strategies over 300 requests through the factory, counted from the proxies'
//! own logs. A venue's 404 or 429 through a healthy pool ejects nobody.

mod support;

use feedhandler::config::ProxyConfig;
use feedhandler::model::VenueId;
use feedhandler::net::{ConnectionFactory, Redactor, StaticResolver};
use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use feedhandler::sim::server::HttpReply;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::proxies::Proxy;
use support::rest_venue::ScriptedRest;
use support::*;

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// Connections a microsocks member relayed to `port`.
fn relayed(p: &Proxy, port: u16) -> usize {
    p.log().matches(&format!("connected to localhost:{port}")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_frozen_member_fails_over_and_health_checks_bring_it_back() {
    let switches = Switches {
        frame_interval: Some(Duration::from_millis(4)),
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let mut members = [
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
    ];
    let http = Proxy::microsocks(None).await;
    let urls: Vec<String> = members
        .iter()
        .map(|m| format!("\"{}\"", m.url("socks5h", None)))
        .collect();
    let port = venue.addr.port();
    // Health checks connect to another port, so the members' logs tell them apart.
    let target = http.port;
    let yaml = format!(
        "proxy:\n  default:\n    http: \"{}\"\n    websocket:\n      pool: [{}]\n      strategy: round_robin\n      timeout_seconds: 2\n\
         \x20     health_check: {{ interval_seconds: 1, timeout_seconds: 1, target: \"127.0.0.1:{target}\" }}\n      eject_after_failures: 1\n\
         exchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    idle_timeout_ms: 2000\n    reconnect_max_delay_ms: 1000\n\
         \x20   ws_url: {}\n    rest_url: {}\ntls:\n  ca_file: {}\n",
        http.url("socks5h", None),
        urls.join(", "),
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "pool.yaml", &yaml);
    let checked = command(&["check", "--config", cfg.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let plan = String::from_utf8_lossy(&checked.stdout);
    assert!(
        plan.contains("websocket: pool round_robin [socks5h://127.0.0.1:"),
        "{plan}"
    );
    assert!(plan.contains("health check every 1 s to 127.0.0.1:"), "{plan}");
    let child = command(&["run", "--config", cfg.to_str().unwrap()])
        .spawn()
        .unwrap();
    let wait_frames = |n: u64| {
        let sim = venue.sim.clone();
        async move {
            while sim.frames_sent() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    // Round robin starts with the first member.
    wait_frames(300).await;
    assert_eq!((relayed(&members[0], port), relayed(&members[1], port)), (1, 0));
    let killed_ns = now_ns();
    members[0].kill();
    // Round robin over the members in service: which one is next depends on whether a
    // health check has ejected the dead one yet.
    let took_over = |i: usize| relayed(&members[i], port) >= 1;
    wait_until(Duration::from_secs(10), || took_over(1) || took_over(2)).await;
    let second = (1..3).find(|i| took_over(*i)).expect("another member took over");
    let third = 3 - second;
    wait_frames(venue.sim.frames_sent() + 200).await;
    // Freeze the member now in use: the stream stalls until the idle timeout (the venue
    // keeps writing into the frozen proxy's socket, so frames sent say nothing).
    let frozen_ns = now_ns();
    let frozen_pid = members[second].pid();
    unsafe_kill(frozen_pid, "STOP");
    wait_until(Duration::from_secs(15), || took_over(third)).await;
    let moved_ns = now_ns();
    assert!(took_over(third), "the remaining member took over");
    wait_frames(venue.sim.frames_sent() + 200).await;
    unsafe_kill(frozen_pid, "CONT");
    members[0].restart_microsocks().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    unsafe_kill(child.id().unwrap() as i32, "TERM");
    let out = child.wait_with_output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");

    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first_after = |after: i64, pred: &dyn Fn(&Value) -> bool| {
        (events.iter())
            .find(|e| e["receive_ts_ns"].as_i64().unwrap() > after && pred(e))
            .map(|e| (e["receive_ts_ns"].as_i64().unwrap() - after) / 1_000_000)
    };
    let synced = |e: &Value| e["type"] == "book_status" && e["status"] == "synced";
    let trade = |e: &Value| e["type"] == "trade";
    let (kill_trade, kill_synced) = (
        first_after(killed_ns, &trade).unwrap(),
        first_after(killed_ns, &synced).unwrap(),
    );
    let freeze_synced = first_after(frozen_ns, &synced).unwrap();
    let name = |i: usize| members[i].url("socks5h", None);
    println!(
        "kill -9 of member 0 ({}) in use: member {second} ({}) took over, trades again after {kill_trade} ms, book synced after {kill_synced} ms; \
         SIGSTOP of member {second}: member {third} ({}) took over {} ms after the freeze, book synced after {freeze_synced} ms (idle timeout 2 s)",
        name(0),
        name(second),
        name(third),
        (moved_ns - frozen_ns) / 1_000_000
    );
    assert!(
        kill_synced < 2000,
        "synced {kill_synced} ms after the kill:\n{stderr}"
    );
    assert!(
        freeze_synced < 5000,
        "synced {freeze_synced} ms after the freeze:\n{stderr}"
    );
    let first = members[0].url("socks5h", None);
    assert!(
        stderr.contains("pool member ejected") && stderr.contains(&first),
        "{stderr}"
    );
    assert!(
        stderr.contains("pool member restored"),
        "health checks restore the restarted member:\n{stderr}"
    );
    // No connection went direct: every WebSocket the venue accepted came through a member.
    assert!(!stderr.contains("proxy=direct"), "{stderr}");
    // (The restarted member's log starts afresh: its one relay before the kill is added.)
    let through: usize = 1 + members.iter().map(|m| relayed(m, port)).sum::<usize>();
    let checks = stderr.matches("health check").count();
    assert!(
        through as u64 >= venue.sim.connections(),
        "{through} relayed, {} accepted ({checks} check lines)",
        venue.sim.connections()
    );
}

/// Polls `done` every 20 ms until it holds or `limit` has passed.
async fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A relay on loopback that holds each new connection for `delay` before passing it on
/// to `to`: a slower proxy, without `tc`. (Test infrastructure playing a network hop,
/// not feedhandler code, so it dials itself.)
#[allow(clippy::disallowed_methods)]
async fn delaying_relay(to: u16, delay: Duration) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    port
}

fn factory(yaml: &str, ca: &std::path::Path) -> Arc<ConnectionFactory> {
    let config: ProxyConfig = serde_yaml::from_str(yaml).unwrap();
    let resolver = Arc::new(StaticResolver::new(&config));
    ConnectionFactory::new(resolver, Some(ca), Redactor::default(), HashMap::new()).unwrap()
}

fn pool_yaml(strategy: &str, urls: &[String]) -> String {
    let members: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "default:\n  http: {{ pool: [{}], strategy: {strategy} }}\n",
        members.join(", ")
    )
}

async fn requests(f: &Arc<ConnectionFactory>, url: &str, n: usize) {
    let (client, url) = (
        f.http(VenueId::new("coinbase").unwrap()),
        url::Url::parse(url).unwrap(),
    );
    for _ in 0..n {
        let _ = client.get(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_spread_300_requests_as_they_say() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let script = ScriptedRest::default()
        .route("/ok", vec![HttpReply::ok("{}")])
        .route("/missing", vec![HttpReply::not_found()])
        .route("/limited", vec![HttpReply::status(429, "{}")]);
    // Plain HTTP: each request is one connection through a member (the server closes it).
    let (addr, _server) =
        feedhandler::sim::server::spawn("127.0.0.1:0".parse().unwrap(), None, Arc::new(script))
            .await
            .unwrap();
    let port = addr.port();
    let base = format!("http://localhost:{port}");
    let ok = format!("{base}/ok");
    // A WebSocket venue, for connections held open (least_connections); its CA is the
    // only one the factories need.
    let switches = Switches {
        frame_interval: Some(Duration::from_millis(50)),
        ..Switches::default()
    };
    let ws_venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let ca = ws_venue.ca.ca_pem.clone();
    let members = [
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
        Proxy::microsocks(None).await,
    ];
    let snapshot = || -> Vec<usize> { members.iter().map(|m| relayed(m, port)).collect() };
    let since =
        |before: &[usize]| -> Vec<usize> { snapshot().iter().zip(before).map(|(a, b)| a - b).collect() };
    let urls: Vec<String> = members.iter().map(|m| m.url("socks5h", None)).collect();

    let f = factory(&pool_yaml("round_robin", &urls), &ca);
    requests(&f, &ok, 300).await;
    let rr = since(&[0, 0, 0]);
    assert!(rr.iter().all(|c| c.abs_diff(100) <= 1), "round robin {rr:?}");
    // A venue's 404 and 429 through healthy members eject nobody.
    for path in ["missing", "limited"] {
        requests(&f, &format!("{base}/{path}"), 15).await;
    }
    let before = snapshot();
    requests(&f, &ok, 30).await;
    let after = since(&before);
    assert!(
        after.iter().all(|c| c.abs_diff(10) <= 1),
        "still all three after 404s and 429s: {after:?}"
    );

    let before = snapshot();
    let f = factory(&pool_yaml("random", &urls), &ca);
    requests(&f, &ok, 300).await;
    let random = since(&before);
    assert!(random.iter().all(|c| (60..=140).contains(c)), "random {random:?}");

    // least_connections: six WebSockets held open through the first member (by an
    // exchange whose pool is that member alone) make it the busier one.
    let held_yaml = format!(
        "{}exchanges:\n  binance:\n    websocket: {{ pool: [\"{}\"] }}\n",
        pool_yaml("least_connections", &urls),
        urls[0]
    );
    let f = factory(&held_yaml, &ca);
    let ws_url = url::Url::parse(&format!("{}/stream?streams=btcusdt@trade", ws_venue.ws_url())).unwrap();
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(
            f.websocket(VenueId::new("binance").unwrap(), &ws_url)
                .await
                .unwrap(),
        );
    }
    let before = snapshot();
    requests(&f, &ok, 300).await;
    let least = since(&before);
    drop(held);
    // Two random choices, the emptier taken: the busy member only when both draws hit it.
    assert!(
        least[0] < 70 && least[1] > 90 && least[2] > 90,
        "least_connections {least:?}"
    );

    // fastest: the member behind a 60 ms relay is left alone once measured.
    let slow = delaying_relay(members[2].port, Duration::from_millis(60)).await;
    let mut fast_urls = urls.clone();
    fast_urls[2] = format!("socks5h://127.0.0.1:{slow}");
    let before = snapshot();
    let f = factory(&pool_yaml("fastest", &fast_urls), &ca);
    requests(&f, &ok, 300).await;
    let fastest = since(&before);
    assert!(
        fastest[2] <= 3,
        "the delayed member was used {} times: {fastest:?}",
        fastest[2]
    );
    println!(
        "300 requests: round_robin {rr:?}, random {random:?}, least_connections {least:?} (6 held on the first), fastest {fastest:?} (third delayed 60 ms)"
    );
}

#[tokio::test]
async fn check_shows_pools_regional_rules_and_the_rule_that_chose_each_route() {
    let yaml = "proxy:\n  default:\n    websocket:\n      pool: [\"socks5h://u:hunter2@p1:1080\", \"socks5h://p2:1080\", \"http://p3:3128\"]\n      strategy: least_connections\n      health_check: { interval_seconds: 30, timeout_seconds: 5, target: \"stream.binance.com:9443\" }\n  regional:\n    rules:\n      - { regions: [US, CA], exchanges: [binance], proxy: \"socks5h://us-exit:1080\" }\n      - { regions: [CN], exchanges: [\"*\"], proxy: direct }\nexchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades] }\n  coinbase: { symbols: [BTC-USD], channels: [trades] }\n";
    let (code, stdout, stderr) = check(yaml, &[("FEEDHANDLER_REGION", "US")]).await;
    assert_eq!(code, 0, "{stderr}");
    for want in [
        "region: US; 2 regional rules (precedence: exchange override, regional rule, default, direct)",
        "  http:      socks5h://us-exit:1080 (timeout 30 s) [regional rule 1 (region US)]\n  websocket: socks5h://us-exit:1080 (timeout 30 s) [regional rule 1 (region US)]\n",
        "exchange coinbase\n  channels:  trades\n  symbols:   BTC-USD\n  http:      direct [nothing configured]\n  websocket: pool least_connections [socks5h://***:***@p1:1080, socks5h://p2:1080, http://p3:3128] (timeout 30 s, eject after 3 failures, retry after 300 s, health check every 30 s to stream.binance.com:9443 (timeout 5 s)) [default]\n",
    ] {
        assert!(stdout.contains(want), "{want:?} not in:\n{stdout}");
    }
    assert!(!stdout.contains("hunter2"));
    // In China the second rule makes everything direct, explicitly.
    let (_, stdout, _) = check(yaml, &[("FEEDHANDLER_REGION", "CN")]).await;
    assert!(
        stdout.contains("websocket: direct [regional rule 2 (region CN)]"),
        "{stdout}"
    );
    // A rule names venues that exist.
    let typo = yaml.replace("exchanges: [binance]", "exchanges: [binanse]");
    let (code, _, stderr) = check(&typo, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("proxy.regional.rules.0.exchanges (file FILE): unknown venue `binanse`; expected `*` or one of: binance,"), "{stderr}");
    // A setting is one proxy or a pool, and pool keys need a pool.
    for (setting, reason) in [
        (
            "{ url: \"socks5h://a:1\", pool: [\"socks5h://b:1\"] }",
            "give `url` (one proxy) or `pool` (several), not both",
        ),
        ("{ pool: [] }", "a pool needs at least one member"),
        (
            "{ url: \"socks5h://a:1\", strategy: random }",
            "are keys of a pool",
        ),
        (
            "{ pool: [\"socks5h://a:1\"], strategy: busiest }",
            "unknown value `busiest`",
        ),
        (
            "{ pool: [\"socks5h://a:1\"], health_check: { target: \"nowhere\" } }",
            "health_check.target must be host:port",
        ),
    ] {
        let yaml = format!(
            "proxy:\n  default:\n    http: {setting}\nexchanges:\n  binance: {{ symbols: [BTC-USDT], channels: [trades] }}\n"
        );
        let (code, _, stderr) = check(&yaml, &[]).await;
        assert_eq!(code, 2, "{setting}: {stderr}");
        assert!(
            stderr.contains("proxy.default.http") && stderr.contains(reason),
            "{setting}: {stderr}"
        );
    }
}
