//! Test support: recorded fixtures, local venues with a test CA, the feedhandler binary
//! as a child process, and comparison of its JSON-lines output.
#![allow(dead_code)]

pub mod kafka;
pub mod prometheus;
pub mod proxies;
pub mod rest_venue;
pub mod service;

use feedhandler::record::reader::{self, Recording};
use feedhandler::sim::Playback;
use feedhandler::sim::binance::{BinanceSim, Switches};
use feedhandler::sim::cert::TestCa;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// `../shared/fixtures/<rel>` beside the checkout (or `$FEEDHANDLER_FIXTURES/<rel>`).
pub fn fixture(rel: &str) -> PathBuf {
    let base = std::env::var_os("FEEDHANDLER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    let path = base.join(rel);
    assert!(
        path.exists(),
        "fixture {} missing (shared/ must sit beside the checkout)",
        path.display()
    );
    path
}

pub fn recording(rel: &str) -> Recording {
    reader::read(&fixture(rel)).expect("fixture reads")
}

pub const BINANCE_CF: &str = "cryptofeed/BINANCE.jsonl";
pub const SPOT_HFT: &str = "hftbacktest/binance_spot_btcusdt_20240808_head6000.gz";
pub const COINBASE_CF: &str = "cryptofeed/COINBASE.jsonl";
pub const USDM_HFT: &str = "hftbacktest/binance_usdm_btcusdt_20240808_head6000.gz";

/// A local venue on 127.0.0.1 with TLS from a fresh test CA.
pub struct LocalVenue<S: Playback = BinanceSim> {
    pub addr: SocketAddr,
    pub sim: Arc<S>,
    pub ca: TestCa,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl<S: Playback> Drop for LocalVenue<S> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl LocalVenue<BinanceSim> {
    pub async fn start(rec: &Recording, switches: Switches) -> Self {
        Self::serve(Arc::new(BinanceSim::new(rec, switches))).await
    }
}

impl<S: Playback> LocalVenue<S> {
    pub async fn serve(sim: Arc<S>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::generate(dir.path()).unwrap();
        let (addr, server) = feedhandler::sim::server::spawn(
            "127.0.0.1:0".parse().unwrap(),
            Some(ca.server_config().unwrap()),
            sim.clone(),
        )
        .await
        .unwrap();
        Self {
            addr,
            sim,
            ca,
            dir,
            server,
        }
    }

    /// `wss://localhost:<port>` — a host name, so proxy-side resolution is exercised.
    pub fn ws_url(&self) -> String {
        format!("wss://localhost:{}", self.addr.port())
    }

    pub fn rest_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub async fn wait_finished(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.sim.finished() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "venue did not finish playback in {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn write_config(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_feedhandler")
}

/// A `feedhandler` command with a clean environment (no proxy or FEEDHANDLER_ variables
/// inherited from the machine).
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `feedhandler check` on `yaml` with `env`: exit code, stdout, and stderr with the
/// file's path written `FILE`.
pub async fn check(yaml: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "feedhandler.yaml", yaml);
    let mut cmd = command(&["check", "--config", path.to_str().unwrap()]);
    cmd.envs(env.iter().copied());
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr)
        .unwrap()
        .replace(path.to_str().unwrap(), "FILE");
    (out.status.code().unwrap(), stdout, stderr)
}

pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `feedhandler run` until the venue has played everything and the output has been
/// quiet for `settle` (the client may lag behind the venue), then sends SIGTERM.
pub async fn run_until_played<S: Playback>(
    mut cmd: tokio::process::Command,
    venue: &LocalVenue<S>,
    settle: Duration,
) -> Finished {
    use tokio::io::AsyncReadExt;
    let mut child = cmd.spawn().expect("feedhandler starts");
    let pid = child.id().unwrap() as i32;
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    let reader = tokio::spawn(async move {
        let (mut all, mut buf) = (Vec::new(), vec![0u8; 1 << 16]);
        while let Ok(n @ 1..) = stdout.read(&mut buf).await {
            all.extend_from_slice(&buf[..n]);
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        all
    });
    let errors = tokio::spawn(async move {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all).await;
        all
    });
    venue.wait_finished(Duration::from_secs(60)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = usize::MAX;
    while tokio::time::Instant::now() < deadline {
        let now = received.load(std::sync::atomic::Ordering::Relaxed);
        if now == seen {
            break;
        }
        seen = now;
        tokio::time::sleep(settle).await;
    }
    unsafe_kill(pid, "TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    Finished {
        status,
        stdout: String::from_utf8_lossy(&reader.await.unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&errors.await.unwrap()).into_owned(),
    }
}

/// Runs `cmd` until `done` holds for the venue (or fails after `limit`), then stops it.
pub async fn run_until<S: Playback>(
    mut cmd: tokio::process::Command,
    venue: &LocalVenue<S>,
    limit: Duration,
    done: impl Fn(&LocalVenue<S>) -> bool,
) -> Finished {
    let child = cmd.spawn().unwrap();
    let deadline = tokio::time::Instant::now() + limit;
    while !done(venue) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the client take what the venue sent last before stopping it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    unsafe_kill(child.id().unwrap() as i32, "TERM");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `replay` of a recording made by `run` gives the run's events: per symbol and event
/// type identical, receive times included; only the interleaving of trades with book
/// events may differ (a snapshot waits in a queue).
pub async fn assert_replay_reproduces(rec: &Path, live_stdout: &str) {
    let replayed = command(&["replay", rec.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replayed = String::from_utf8(replayed.stdout).unwrap();
    assert_eq!(replayed.lines().count(), live_stdout.lines().count());
    let (live, again) = (by_stream_exact(live_stdout), by_stream_exact(&replayed));
    for (key, events) in &live {
        let first_diff = events.iter().zip(&again[key]).position(|(a, b)| a != b);
        assert!(
            first_diff.is_none() && events.len() == again[key].len(),
            "{key:?}: {} live vs {} replayed, first difference at {first_diff:?}: {:.300} vs {:.300}",
            events.len(),
            again[key].len(),
            first_diff.map(|i| events[i].to_string()).unwrap_or_default(),
            first_diff.map(|i| again[key][i].to_string()).unwrap_or_default()
        );
    }
}

/// Sends a signal with the `kill` command (no unsafe code, no extra crate).
pub fn unsafe_kill(pid: i32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{signal} {pid}");
}

pub async fn replay(rel: &str) -> String {
    let out = command(&["replay", fixture(rel).to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Events grouped by (type, symbol), in order, without receive times.
pub fn by_stream(jsonl: &str) -> BTreeMap<(String, String), Vec<Value>> {
    grouped(jsonl, false)
}

/// Events grouped by (type, symbol), in order, receive times included.
pub fn by_stream_exact(jsonl: &str) -> BTreeMap<(String, String), Vec<Value>> {
    grouped(jsonl, true)
}

fn grouped(jsonl: &str, keep_receive_ts: bool) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for line in jsonl.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
        if !keep_receive_ts {
            v.as_object_mut().unwrap().remove("receive_ts_ns");
        }
        let key = (
            v["type"].as_str().unwrap().to_owned(),
            v["symbol"].as_str().unwrap().to_owned(),
        );
        out.entry(key).or_default().push(v);
    }
    out
}

fn levels(v: &Value) -> Vec<feedhandler::model::Level> {
    use std::str::FromStr;
    let dec = |x: &Value| rust_decimal::Decimal::from_str(x.as_str().unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| (dec(&l[0]), dec(&l[1])))
        .collect()
}

/// Books rebuilt from `run`/`replay` output: per symbol, the last snapshot plus the
/// deltas after it.
pub fn books_from_output(stdout: &str) -> std::collections::HashMap<String, feedhandler::book::L2Book> {
    let mut books = std::collections::HashMap::<String, feedhandler::book::L2Book>::new();
    for line in stdout.lines().filter(|l| l.starts_with(r#"{"type":"book","#)) {
        let v: Value = serde_json::from_str(line).unwrap();
        let book = books.entry(v["symbol"].as_str().unwrap().to_owned()).or_default();
        if v["update"] == "snapshot" {
            book.reset(&levels(&v["bids"]), &levels(&v["asks"]));
        } else {
            book.apply(&levels(&v["bids"]), &levels(&v["asks"]));
        }
    }
    books
}

/// `(symbol, status)` of every book_status event, in order.
pub fn statuses(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| l.contains(r#""type":"book_status""#))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["symbol"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
