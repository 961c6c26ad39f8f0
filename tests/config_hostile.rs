//! Configurations that used to pass `check` though they were wrong, and error texts that
//! said things twice: each fails at load with exit 2, the key path and one reason, and
//! never echoes a secret.

mod support;

use support::*;

const VALID: &str = "exchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades] }\n";

#[tokio::test]
async fn configurations_that_passed_but_should_not() {
    let long_host = format!("h{}", "x".repeat(299));
    let kafka = "sink: { kind: kafka, bootstrap_servers: \"k:9092\", properties: { security.protocol: SASL_SSL, sasl.mechanism: PLAINN, sasl.password: hunter2 } }\n";
    type Env = Vec<(&'static str, &'static str)>;
    let cases: Vec<(String, Env, &str)> = vec![
        (
            "exchanges:\n  binance: { symbols: [BTC-USDT], channels: [trades] }\n  binance: { symbols: [ETH-USDT], channels: [trades] }\n".into(),
            vec![],
            "exchanges.binance (file FILE): this key is given twice; the last would silently win",
        ),
        (
            format!("{VALID}proxy:\n  default:\n    http: http://a:1\n    http: http://u:hunter2@b:1\n"),
            vec![],
            "proxy.default.http (file FILE): this key is given twice",
        ),
        (
            "exchanges:\n  binance: { symbols: [\"\"], channels: [trades] }\n".into(),
            vec![],
            "exchanges.binance.symbols (file FILE): symbol \"\" is not a symbol",
        ),
        (
            "exchanges:\n  binance: { symbols: [\" BTC USDT \"], channels: [trades] }\n".into(),
            vec![],
            "exchanges.binance.symbols (file FILE): symbol \" BTC USDT \" is not a symbol",
        ),
        (
            VALID.into(),
            vec![("FEEDHANDLER_PROXY__", "x")],
            "(env FEEDHANDLER_PROXY__): an empty key segment",
        ),
        (
            format!("{VALID}proxy:\n  default:\n    http: \"socks5h://u:hunter2@{long_host}:1080\"\n"),
            vec![],
            "proxy.default.http (file FILE): the proxy host name is longer than 253 characters",
        ),
        (
            format!("{VALID}{kafka}"),
            vec![],
            "sink.properties (file FILE): sasl.mechanism: unsupported SASL mechanism; expected one of GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER",
        ),
        (
            VALID.into(),
            vec![("FEEDHANDLER_EXCHANGES__BINANCE__RECONNECT_MAX_DELAY_MS", "100")],
            "exchanges.binance.reconnect_max_delay_ms (env FEEDHANDLER_EXCHANGES__BINANCE__RECONNECT_MAX_DELAY_MS): must be 500-300000",
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
async fn a_dotted_property_from_the_environment_is_a_property() {
    let yaml = format!(
        "{VALID}sink: {{ kind: kafka, bootstrap_servers: \"k:9092\", properties: {{ security.protocol: SASL_SSL, sasl.mechanism: PLAIN, sasl.username: u }} }}\n"
    );
    let env = [("FEEDHANDLER_SINK__PROPERTIES__SASL.PASSWORD", "hunter2")];
    let (code, stdout, stderr) = check(&yaml, &env).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("sasl.password=***"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
}

#[tokio::test]
async fn errors_say_each_thing_once() {
    // A truncated snapshot in a recording: rejected and counted, its text said once.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture(BINANCE_CF)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let i = lines.iter().position(|l| l.contains("/api/v3/depth")).unwrap();
    let cut = lines[i].find("\"data\":\"").unwrap() + 40;
    lines[i] = format!("{}\"}}", &lines[i][..cut]);
    let path = dir.path().join("BINANCE.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = command(&["replay", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("malformed depth snapshot"))
        .expect("rejection logged");
    assert_eq!(line.matches("EOF while parsing").count(), 1, "{line}");

    // Writing to a closed stdout: the error says "Broken pipe" once.
    let mut child = command(&["replay", fixture(SPOT_HFT).to_str().unwrap()])
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line");
    assert_eq!(line.matches("Broken pipe").count(), 1, "{line}");
}
