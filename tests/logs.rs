//! Logs: a trace-level `run` through an authenticated proxy never prints the password
//! (nor its Basic-auth form), as text or as JSON lines (`--log-format json`), where every
//! line, the fatal error included, is one JSON object.

mod support;

use feedhandler::sim::binance::Switches;
use std::time::Duration;
use support::proxies::Proxy;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_level_run_through_an_authenticated_proxy_never_prints_the_password() {
    trace_run(false).await;
}

/// The same with `--log-format json`: every line of the run is one JSON object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_parse_line_by_line_and_never_print_the_password() {
    trace_run(true).await;
}

async fn trace_run(json: bool) {
    use base64::Engine;
    let venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    let password = "Tr4ce-Secret-77";
    let proxy = Proxy::squid(Some(("traceuser", password)), None).await;
    let url = proxy.url("http", Some(("traceuser", password)));
    let yaml = format!(
        "proxy:\n  default: {{ http: \"{url}\", websocket: \"{url}\" }}\nexchanges:\n  binance:\n    symbols: [BTC-USDT]\n    channels: [trades, l2_book]\n    ws_url: {}\n    rest_url: {}\ntls: {{ ca_file: {} }}\n",
        venue.ws_url(),
        venue.rest_url(),
        venue.ca.ca_pem.display()
    );
    let cfg = write_config(venue.dir.path(), "trace.yaml", &yaml);
    let format = if json { "json" } else { "text" };
    let out = run_until_played(
        command(&[
            "--log",
            "trace",
            "--log-format",
            format,
            "run",
            "--config",
            cfg.to_str().unwrap(),
        ]),
        &venue,
        Duration::from_millis(300),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        &out.stderr[out.stderr.len().saturating_sub(3000)..]
    );
    assert!(
        out.stderr.len() > 100_000,
        "trace logging was on ({} bytes)",
        out.stderr.len()
    );
    let logged_proxy = if json {
        format!(r#""proxy":"http://127.0.0.1:{}""#, proxy.port)
    } else {
        format!("proxy=http://127.0.0.1:{}", proxy.port)
    };
    assert!(out.stderr.contains(&logged_proxy), "connections log their proxy");
    if json {
        for line in out.stderr.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
        }
        assert!(out.stderr.contains(r#""exchange":"binance""#));
        // A configuration error that ends the process is a JSON line too.
        let bad = write_config(
            venue.dir.path(),
            "bad.yaml",
            "exchanges:\n  krakn: { symbols: [X], channels: [trades] }\n",
        );
        let checked = command(&["--log-format", "json", "check", "--config", bad.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        assert_eq!(checked.status.code(), Some(2));
        let line: serde_json::Value = serde_json::from_slice(&checked.stderr).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert!(
            line["message"]
                .as_str()
                .unwrap()
                .contains("exchanges.krakn (file "),
            "{line}"
        );
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("traceuser:{password}"));
    for secret in [password, basic.as_str()] {
        assert!(!out.stderr.contains(secret), "secret in logs");
        assert!(!out.stdout.contains(secret), "secret in output");
    }
    proxy
        .wait_log(&format!("CONNECT localhost:{} traceuser", venue.addr.port()))
        .await;
}
