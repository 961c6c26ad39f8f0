//! The external proxy service, played by `tests/support/proxy_service.py` (in `.venv`,
//! installed by `scripts/install-test-deps.sh`): every request it receives is validated
//! against `api/proxy-service.openapi.yaml` with openapi-core and logged as a JSON line;
//! tests steer its answers with `POST /_control` (sent with curl). Also a factory
//! client configured with a service, for the proxy service tests.

use super::LocalVenue;
use super::proxies::Proxy;
use feedhandler::model::VenueId;
use feedhandler::net::{ConnectError, ConnectionFactory};
use feedhandler::sim::binance::Switches;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub struct ProxyService {
    pub port: u16,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    child: Child,
}

impl Drop for ProxyService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

impl ProxyService {
    /// Started on a free port; requests must carry `token` as a bearer token if given.
    pub fn start(token: Option<&str>) -> Self {
        match token {
            Some(t) => Self::start_with(&["--token", t]),
            None => Self::start_with(&[]),
        }
    }

    /// Started on a free port with the script's auth arguments (`--token T`,
    /// `--api-key K`).
    pub fn start_with(auth: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let mut cmd = Command::new(repo(".venv/bin/python"));
        cmd.arg(repo("tests/support/proxy_service.py"))
            .args(["--port", "0", "--spec"])
            .arg(repo("api/proxy-service.openapi.yaml"))
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd.args(auth);
        let mut child = cmd
            .spawn()
            .expect(".venv missing: run scripts/install-test-deps.sh");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("proxy service did not start: {line:?}"));
        Self {
            port,
            dir,
            log,
            child,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces how the service answers (see the script's doc).
    pub fn control(&self, mode: Value) {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", "-H", "Content-Type: application/json", "-d"])
            .arg(mode.to_string())
            .arg(format!("{}/_control", self.url()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "control: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every request received so far, as logged.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Requests to `api/v1/<path>` so far.
    pub fn calls(&self, path: &str) -> Vec<Value> {
        let full = format!("/api/v1/{path}");
        self.requests()
            .into_iter()
            .filter(|r| r["path"] == full.as_str())
            .collect()
    }

    /// Waits until `n` requests to `api/v1/<path>` have arrived.
    pub async fn wait_calls(&self, path: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let calls = self.calls(path);
            if calls.len() >= n {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} {path} calls: {:?}", self.calls(path));
    }

    /// Every request matched the OpenAPI file (and carried valid credentials).
    pub fn assert_all_valid(&self) {
        for r in self.requests() {
            assert!(r["valid"] == true && r["authorized"] == true, "{r}");
        }
    }
}

pub const TOKEN: &str = "svc-TOKEN-4f1c9e";

/// Requests a microsocks proxy relayed to the venue.
pub fn relayed(p: &Proxy, venue: &LocalVenue) -> usize {
    p.log()
        .matches(&format!("connected to localhost:{}", venue.addr.port()))
        .count()
}

pub struct Client {
    factory: Arc<ConnectionFactory>,
    url: url::Url,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Client {
    /// A factory from a configuration with `service` (keys under `external_service`)
    /// and `default_http` as the embedded proxy, if any.
    pub fn new(venue: &LocalVenue, service: &str, default_http: Option<String>) -> Self {
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
        let path = super::write_config(dir.path(), "svc.yaml", &yaml);
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

    pub async fn get(&self) -> Result<(), ConnectError> {
        let binance = VenueId::new("binance").unwrap();
        self.factory.http(binance).get(&self.url).await.map(|_| ())
    }
}

/// `external_service` keys for `service`: bearer token, 1 s timeout, breaker after
/// `threshold` failures for 2 s, and `fallback`.
pub fn keys(endpoint: &str, threshold: u32, fallback: &str) -> String {
    keys_with(&format!("[\"{endpoint}\"]"), threshold, 2, fallback)
}

/// The same with a list of endpoints and the breaker's recovery time.
pub fn keys_with(endpoints: &str, threshold: u32, recovery_s: u32, fallback: &str) -> String {
    format!(
        "    endpoints: {endpoints}\n    auth: {{ bearer_token: \"{TOKEN}\" }}\n    timeout_seconds: 1\n\
         \x20   circuit_breaker: {{ failure_threshold: {threshold}, recovery_timeout_seconds: {recovery_s} }}\n\
         \x20   fallback: {fallback}\n    client_id: test-client\n    feedback_queue: 4\n"
    )
}

pub async fn venue() -> LocalVenue {
    LocalVenue::start(&super::recording(super::SPOT_HFT), Switches::default()).await
}
