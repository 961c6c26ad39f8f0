//! The external proxy service, played by `tests/support/proxy_service.py` (in `.venv`,
//! installed by `scripts/install-test-deps.sh`): every request it receives is validated
//! against `api/proxy-service.openapi.yaml` with openapi-core and logged as a JSON line;
//! tests steer its answers with `POST /_control` (sent with curl).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
