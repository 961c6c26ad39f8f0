//! The command line end to end: `check` validation (exit code 2, key path, origin, no
//! credential), environment overrides, the resolved plan, and `enabled: false` ignoring
//! HTTP(S)_PROXY/ALL_PROXY. (Logs: `tests/logs.rs`.)

mod support;

use feedhandler::sim::binance::Switches;
use std::time::Duration;
use support::proxies::Proxy;
use support::*;

const VALID: &str = "exchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades, l2_book] }\n";

#[tokio::test]
async fn every_validation_rule_fails_at_load_with_key_origin_and_no_credential() {
    let proxy = |value: &str| format!("proxy:\n  default:\n    http: {value}\n{VALID}");
    type Env = Vec<(&'static str, &'static str)>;
    let cases: Vec<(String, Env, &str)> = vec![
        (
            proxy("\"ftp://u:hunter2@p:21\""),
            vec![],
            "proxy.default.http (file FILE): unsupported proxy scheme; expected one of http, https, socks4, socks4a, socks5, socks5h",
        ),
        (
            proxy("\"socks5://u:hunter2@:1080\""),
            vec![],
            "proxy.default.http (file FILE): invalid proxy URL: empty host",
        ),
        (
            proxy("\"http://u:hunter2@p:0\""),
            vec![],
            "proxy.default.http (file FILE): proxy port must be 1-65535",
        ),
        (
            proxy("\"http://u:hunter2@p:65536\""),
            vec![],
            "proxy.default.http (file FILE): invalid proxy URL: invalid port number",
        ),
        (
            proxy("{ url: \"http://u:hunter2@p:8080\", timeout_seconds: 0 }"),
            vec![],
            "proxy.default.http.timeout_seconds (file FILE): timeout_seconds must be 1-300, got 0",
        ),
        (
            proxy("{ url: \"http://u:hunter2@p:8080\", timeout_seconds: 301 }"),
            vec![],
            "timeout_seconds must be 1-300, got 301",
        ),
        (
            proxy("{ url: \"http://u:hunter2@p:8080\", timeout: 5 }"),
            vec![],
            "proxy.default.http.timeout (file FILE): unknown key `timeout`; expected one of: url, pool, timeout_seconds, strategy, health_check, eject_after_failures, retry_failed_after_seconds, fallback",
        ),
        (
            format!("proxi: {{}}\n{VALID}"),
            vec![],
            "proxi (file FILE): unknown key `proxi`; expected one of: venue_definitions, proxy, exchanges, sink, tls",
        ),
        (
            format!("proxy:\n  exchanges:\n    krakn: {{ http: \"http://p:1\" }}\n{VALID}"),
            vec![],
            "proxy.exchanges.krakn (file FILE): unknown value `krakn`; expected one of: binance, binance_futures",
        ),
        (
            "exchanges:\n  krakn: { symbols: [X], channels: [trades] }\n".into(),
            vec![],
            "unknown value `krakn`",
        ),
        (
            "exchanges:\n  binance: { symbols: [BTC-USDT], channels: [candles] }\n".into(),
            vec![],
            "exchanges.binance.channels.0 (file FILE): unknown value `candles`; expected one of: trades, l2_book",
        ),
        (
            "exchanges:\n  binance: { symbols: [], channels: [trades] }\n".into(),
            vec![],
            "exchanges.binance.symbols (file FILE): at least one symbol is required",
        ),
        (
            "exchanges:\n  binance: { symbols: [A-B, A-B], channels: [trades] }\n".into(),
            vec![],
            "symbol A-B is listed twice",
        ),
        (
            "exchanges:\n  binance: { symbols: [A-B], channels: [trades], depth_limit: 7 }\n".into(),
            vec![],
            "exchanges.binance.depth_limit (file FILE): must be one of [5, 10, 20, 50, 100, 500, 1000, 5000]",
        ),
        (
            "exchanges:\n  binance: { symbols: [A-B], channels: [trades], idle_timeout_ms: 50 }\n".into(),
            vec![],
            "exchanges.binance.idle_timeout_ms (file FILE): must be 2000-3600000",
        ),
        (
            "exchanges:\n  binance_futures: { symbols: [A-B-PERP], channels: [trades], max_connection_age_s: 90000 }\n"
                .into(),
            vec![],
            "exchanges.binance_futures.max_connection_age_s (file FILE): must be 1-86100 (Binance closes connections at 24 h; the replacement needs the rest)",
        ),
        (
            "exchanges:\n  coinbase: { symbols: [BTC-USD], channels: [trades] }\n".into(),
            vec![("FEEDHANDLER_EXCHANGES__COINBASE__MAX_CONNECTION_AGE_S", "3600")],
            "exchanges.coinbase.max_connection_age_s (env FEEDHANDLER_EXCHANGES__COINBASE__MAX_CONNECTION_AGE_S): coinbase has no connection age limit",
        ),
        (
            "exchanges: {}\n".into(),
            vec![],
            "exchanges (file FILE): at least one exchange must be configured",
        ),
        (
            VALID.into(),
            vec![("FEEDHANDLER_PROXY__DEFAULT__WEBSOCKET", "socks9://u:hunter2@p")],
            "proxy.default.websocket (env FEEDHANDLER_PROXY__DEFAULT__WEBSOCKET): unsupported proxy scheme",
        ),
        (
            VALID.into(),
            vec![("FEEDHANDLER_PROXY__ENABLED", "maybe")],
            "proxy.enabled (env FEEDHANDLER_PROXY__ENABLED): expected a boolean, found a string",
        ),
        (
            VALID.into(),
            vec![("FEEDHANDLER_SINK__KIND", "kafkaa")],
            "unknown value `kafkaa`",
        ),
        (
            format!("{VALID}sink: {{ kind: stdout, path: out.jsonl }}\n"),
            vec![],
            "sink (file FILE): unknown key `path`",
        ),
        (
            format!(
                "{VALID}sink: {{ kind: kafka, bootstrap_servers: \"k:9092\", topic: \"md/{{type}}\" }}\n"
            ),
            vec![],
            "sink.topic (file FILE): '/' is not allowed in Kafka topic names",
        ),
        (
            format!("{VALID}tls: {{ ca_file: /nonexistent/ca.pem }}\n"),
            vec![],
            "tls.ca_file (file FILE): /nonexistent/ca.pem is not a readable file",
        ),
        (
            format!(
                "{VALID}sink: {{ kind: kafka, bootstrap_servers: \"k:9092\", properties: {{ sasl.passwd: hunter2 }} }}\n"
            ),
            vec![],
            "sink.properties (file FILE): Client config error: No such configuration property: \"sasl.passwd\"",
        ),
        (
            format!("{VALID}sink: {{ kind: kafka, bootstrap_servers: \"k:9092\", queue_capacity: 0 }}\n"),
            vec![],
            "sink.queue_capacity (file FILE): must be 1-10000000",
        ),
        (
            "exchanges:\n  binance: { symbols: [A-B], channels: [trades, trades] }\n".into(),
            vec![],
            "channel trades is listed twice",
        ),
        (
            "exchanges:\n  binance: { symbols: [A-B], channels: [trades], ws_url: \"not a url hunter2\" }\n"
                .into(),
            vec![],
            "exchanges.binance.ws_url (file FILE): invalid URL: relative URL without a base",
        ),
    ];
    for (yaml, env, expected) in cases {
        let (code, stdout, stderr) = check(&yaml, &env).await;
        assert_eq!(code, 2, "exit code for {expected:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
        assert!(!stderr.contains("hunter2"), "credential leaked:\n{stderr}");
    }
}

#[tokio::test]
async fn missing_config_file_exits_2() {
    let out = command(&["check", "--config", "/nonexistent/feedhandler.yaml"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/feedhandler.yaml"));
}

#[tokio::test]
async fn check_prints_the_resolved_plan_with_env_overrides_and_masked_credentials() {
    let yaml = "proxy:\n  default:\n    http: { url: \"socks5h://user:hunter2@proxy:1080\", timeout_seconds: 15 }\n    websocket: socks5h://proxy:1081\n  exchanges:\n    binance:\n      rest: http://binance-proxy:8080\nexchanges:\n  binance: { symbols: [BTC-USDT, ETH-USDT], channels: [trades, l2_book] }\n  binance_futures: { symbols: [BTC-USDT-PERP], channels: [l2_book] }\n";
    let env = [(
        "FEEDHANDLER_PROXY__EXCHANGES__BINANCE_FUTURES__WEBSOCKET__URL",
        "http://admin:env-secret@ws-proxy:3128",
    )];
    let (code, stdout, stderr) = check(yaml, &env).await;
    assert_eq!(code, 0, "{stderr}");
    let expected = "sink: stdout (JSON lines)\n\
        metrics: off (set metrics.listen to serve /metrics and health endpoints)\n\
        exchange binance\n  channels:  trades, l2_book\n  symbols:   BTC-USDT, ETH-USDT\n\
        \x20 snapshots: 1000 levels, weight 50 each, 100 for 2 books; budget 3000 weight/min (50% of 6000) -> first sync at once\n\
        \x20 http:      http://binance-proxy:8080 (timeout 30 s) [exchange override]\n  websocket: socks5h://proxy:1081 (timeout 30 s) [default]\n\
        exchange binance_futures\n  channels:  l2_book\n  symbols:   BTC-USDT-PERP\n\
        \x20 snapshots: 1000 levels, weight 20 each, 20 for 1 book; budget 1200 weight/min (50% of 2400) -> first sync at once\n\
        \x20 http:      socks5h://***:***@proxy:1080 (timeout 15 s) [default]\n  websocket: http://***:***@ws-proxy:3128 (timeout 30 s) [exchange override]\n";
    assert!(stdout.ends_with(expected), "plan:\n{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("env-secret") && !stdout.contains("admin"));

    // The CLI's own variables are not configuration keys.
    let cli_env = [
        ("FEEDHANDLER_LOG", "warn"),
        ("FEEDHANDLER_CONFIG", "/elsewhere.yaml"),
    ];
    assert_eq!(check(yaml, &cli_env).await.0, 0);
    let direct = [("FEEDHANDLER_PROXY__EXCHANGES__BINANCE__WEBSOCKET", "direct")];
    let (_, stdout, _) = check(yaml, &direct).await;
    assert!(stdout.contains("exchange binance\n  channels:  trades, l2_book\n  symbols:   BTC-USDT, ETH-USDT\n  snapshots: 1000 levels, weight 50 each, 100 for 2 books; budget 3000 weight/min (50% of 6000) -> first sync at once\n  http:      http://binance-proxy:8080 (timeout 30 s) [exchange override]\n  websocket: direct [exchange override]\n"), "{stdout}");

    let (code, stdout, _) = check(yaml, &[("FEEDHANDLER_PROXY__ENABLED", "false")]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("proxy: disabled"));
    assert!(
        stdout.contains("http:      direct [proxies disabled]"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("socks5h://"),
        "disabled means direct everywhere:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_proxy_connects_directly_even_with_proxy_environment() {
    let venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    let trap = Proxy::tinyproxy(None).await;
    let yaml = format!(
        "proxy:\n  enabled: false\n  default: {{ http: \"{0}\", websocket: \"{0}\" }}\nexchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades]\n    ws_url: {1}\n    rest_url: {2}\ntls: {{ ca_file: {3} }}\n",
        trap.url("http", None),
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "direct.yaml", &yaml);
    let mut cmd = command(&["run", "--config", cfg.to_str().unwrap()]);
    let trap_url = trap.url("http", None);
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env(var, &trap_url);
    }
    let out = run_until_played(cmd, &venue, Duration::from_millis(300)).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains(r#""type":"trade""#))
            .count(),
        1123
    );
    assert!(out.stderr.contains("proxy=direct"), "{}", out.stderr);
    assert!(
        !trap.log().contains("CONNECT localhost"),
        "environment proxy was used:\n{}",
        trap.log()
    );
}

#[tokio::test]
async fn kafka_security_settings_are_accepted_and_masked() {
    let yaml = format!(
        "{VALID}sink:\n  kind: kafka\n  bootstrap_servers: \"k1:9093,k2:9093\"\n  properties:\n    security.protocol: sasl_ssl\n    sasl.mechanism: SCRAM-SHA-512\n    sasl.username: feeds\n    sasl.password: hunter2-kafka\n"
    );
    let (code, stdout, stderr) = check(&yaml, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("sasl.password=*** sasl.username=*** security.protocol=***"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"));
}

#[tokio::test]
async fn example_configurations_pass_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = command(&["check", "--config", path.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "config/ holds the examples");
}

#[tokio::test]
async fn the_config_docker_compose_mounts_passes_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let mount = compose
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("- ./")?
                .strip_suffix(":/etc/feedhandler/feedhandler.yaml:ro")
        })
        .expect("docker-compose.yml mounts a config at /etc/feedhandler/feedhandler.yaml");
    let path = root.join(mount);
    let out = command(&["check", "--config", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("sink: kafka kafka:9092"), "{stdout}");
    assert!(stdout.contains("websocket: socks5h://proxy:1080"), "{stdout}");
}
