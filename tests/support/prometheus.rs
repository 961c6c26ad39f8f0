//! A real Prometheus server (Debian's `prometheus`, installed by
//! `scripts/install-test-deps.sh`) on 127.0.0.1, scraping one target every second; its
//! HTTP API is queried with curl. Also `promtool`, and a plain GET for local endpoints.

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Prometheus {
    pub port: u16,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `target` (`host:port`) every second.
    pub async fn scraping(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: feedhandler\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let port = super::proxies::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus missing: run scripts/install-test-deps.sh");
        super::proxies::wait_port(port, "prometheus", &dir.path().join("prometheus.log")).await;
        Self { port, child, dir }
    }

    /// An instant query's result vector.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let out = Command::new("curl")
            .args(["-sf", "--get", "--data-urlencode"])
            .arg(format!("query={promql}"))
            .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "query {promql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["status"], "success", "{answer}");
        answer["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of `promql` (0 when the result is empty).
    pub fn value(&self, promql: &str) -> f64 {
        let result = self.query(promql);
        assert!(result.len() <= 1, "{promql}: {result:?}");
        result
            .first()
            .map_or(0.0, |r| r["value"][1].as_str().unwrap().parse().unwrap())
    }

    /// Waits until Prometheus has scraped the target successfully `n` more times.
    pub async fn wait_scrapes(&self, n: u32) {
        let scrapes = "sum_over_time(up{job=\"feedhandler\"}[1h])";
        let before = self.value(scrapes);
        for _ in 0..(n * 40) {
            if self.value(scrapes) >= before + f64::from(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus did not scrape {n} more times");
    }
}

/// `promtool ARGS` with `stdin`; its exit success and combined output.
pub fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool missing: run scripts/install-test-deps.sh");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A plain HTTP/1.1 GET of a local endpoint: status and body.
#[allow(clippy::disallowed_methods)] // a test reading feedhandler's own endpoints
pub async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}
