//! Writes recordings of raw traffic (`run --record`) in cryptofeed's JSON-lines session
//! format — header, then http/connect/send/recv lines — plus an exact integer `ts_ns`
//! beside the float `ts`, and `disconnect` lines when a connection is lost. Lines go through a bounded queue to a writer task.

use crate::model::VenueId;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// Lines queued for the writer; a full queue makes the connection wait.
const QUEUE_LINES: usize = 16_384;

#[derive(Serialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Line<'a> {
    Header {
        format: u32,
        exchange: &'a str,
        recorded: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        setup: Option<&'a serde_json::value::RawValue>,
    },
    Http {
        conn: &'a str,
        ts: f64,
        ts_ns: i64,
        url: &'a str,
        data: &'a str,
    },
    Connect {
        conn: &'a str,
        ts: f64,
        ts_ns: i64,
        url: &'a str,
        /// A planned handover: this connection takes over from `replaces` (our extension).
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<&'a str>,
    },
    Send {
        conn: &'a str,
        ts: f64,
        ts_ns: i64,
        data: &'a str,
    },
    Recv {
        conn: &'a str,
        ts: f64,
        ts_ns: i64,
        data: &'a str,
    },
    /// The connection was lost (closed by the venue, failed, or idle): its books were
    /// announced `resyncing` at `ts_ns` (our extension).
    Disconnect {
        conn: &'a str,
        ts: f64,
        ts_ns: i64,
        reason: &'a str,
    },
}

enum Msg {
    Line(String),
    Flush(oneshot::Sender<std::io::Result<()>>),
}

#[derive(Debug, thiserror::Error)]
#[error("recording {path}: {source}")]
pub struct RecordError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A handle to one recording file; clones share the file.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    /// The venue as recordings name it (`BINANCE`).
    exchange: std::sync::Arc<str>,
}

fn seconds(ts_ns: i64) -> f64 {
    ts_ns as f64 / 1e9
}

impl Recorder {
    /// Creates `path` and writes the header for `exchange`'s traffic.
    /// A recording whose header keeps `setup` (JSON) when given.
    pub async fn create(
        path: &Path,
        exchange: VenueId,
        now_ns: i64,
        setup: Option<&serde_json::value::RawValue>,
    ) -> Result<Self, RecordError> {
        let err = |source| RecordError {
            path: path.into(),
            source,
        };
        let file = tokio::fs::File::create(path).await.map_err(err)?;
        let (tx, rx) = mpsc::channel(QUEUE_LINES);
        tokio::spawn(write_lines(file, rx));
        let recorder = Self {
            tx,
            exchange: exchange.recording_name().into(),
        };
        recorder
            .push(&Line::Header {
                format: 2,
                exchange: &recorder.exchange,
                recorded: seconds(now_ns),
                setup,
            })
            .await;
        Ok(recorder)
    }

    /// `BINANCE.ws.3`-style connection names.
    pub fn conn_name(&self, kind: &str, n: u64) -> String {
        format!("{}.{kind}.{n}", self.exchange)
    }

    async fn push(&self, line: &Line<'_>) {
        let text = serde_json::to_string(line).expect("recording lines are plain data");
        if self.tx.send(Msg::Line(text)).await.is_err() {
            tracing::error!("recording writer stopped; traffic is no longer recorded");
        }
    }

    pub async fn http(&self, url: &str, body: &str, ts_ns: i64) {
        let conn = self.conn_name("http", 0);
        self.push(&Line::Http {
            conn: &conn,
            ts: seconds(ts_ns),
            ts_ns,
            url,
            data: body,
        })
        .await;
    }

    pub async fn connect(&self, conn: &str, url: &str, ts_ns: i64, replaces: Option<&str>) {
        self.push(&Line::Connect {
            conn,
            ts: seconds(ts_ns),
            ts_ns,
            url,
            replaces,
        })
        .await;
    }

    pub async fn send(&self, conn: &str, data: &str, ts_ns: i64) {
        self.push(&Line::Send {
            conn,
            ts: seconds(ts_ns),
            ts_ns,
            data,
        })
        .await;
    }

    pub async fn recv(&self, conn: &str, data: &str, ts_ns: i64) {
        self.push(&Line::Recv {
            conn,
            ts: seconds(ts_ns),
            ts_ns,
            data,
        })
        .await;
    }

    pub async fn disconnect(&self, conn: &str, reason: &str, ts_ns: i64) {
        self.push(&Line::Disconnect {
            conn,
            ts: seconds(ts_ns),
            ts_ns,
            reason,
        })
        .await;
    }

    /// Waits until everything queued so far is on disk.
    pub async fn flush(&self) -> std::io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| std::io::Error::other("recording writer stopped"))?;
        rx.await
            .map_err(|_| std::io::Error::other("recording writer stopped"))?
    }
}

async fn write_lines(file: tokio::fs::File, mut rx: mpsc::Receiver<Msg>) {
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, file);
    let mut failed: Option<std::io::Error> = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Line(line) if failed.is_none() => {
                let result = async {
                    out.write_all(line.as_bytes()).await?;
                    out.write_all(b"\n").await
                }
                .await;
                if let Err(e) = result {
                    tracing::error!("writing the recording failed: {e}");
                    failed = Some(e);
                }
            }
            Msg::Line(_) => {}
            Msg::Flush(ack) => {
                let result = match &failed {
                    Some(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                    None => out.flush().await,
                };
                let _ = ack.send(result);
            }
        }
    }
    let _ = out.flush().await;
}
