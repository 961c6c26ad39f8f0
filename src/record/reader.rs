//! Reads recordings: cryptofeed's JSON-lines session format (header/http/connect/send/recv)
//! and hftbacktest's Binance capture format (`<receive ns> <frame>` lines, a bare JSON line
//! being the REST depth snapshot), plain or gzip-compressed.

use serde::Deserialize;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One recorded exchange interaction, with its receive time.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Http {
        url: String,
        body: String,
        ts_ns: i64,
    },
    /// `conn` names the connection (`BINANCE.ws.3`); `replaces`: the connection this one
    /// took over from in a planned handover.
    Connect {
        conn: String,
        url: String,
        ts_ns: i64,
        replaces: Option<String>,
    },
    Send {
        conn: String,
        data: String,
        ts_ns: i64,
    },
    /// `conn`: the connection that received it (empty in hftbacktest captures).
    Recv {
        conn: String,
        data: String,
        ts_ns: i64,
    },
    /// The connection was lost at `ts_ns` (our recordings only).
    Disconnect {
        conn: String,
        ts_ns: i64,
    },
}

impl Recorded {
    /// When it happened.
    pub fn ts_ns(&self) -> i64 {
        match self {
            Self::Http { ts_ns, .. }
            | Self::Connect { ts_ns, .. }
            | Self::Send { ts_ns, .. }
            | Self::Recv { ts_ns, .. }
            | Self::Disconnect { ts_ns, .. } => *ts_ns,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Venue as the recording names it: `BINANCE`, `BINANCE_US`, `COINBASE`, ….
    pub exchange: String,
    pub events: Vec<Recorded>,
    /// Lines left out because their time was out of range (each logged).
    pub skipped_lines: u64,
    /// What the venue was asked for, as the recording's header keeps it (REST venues:
    /// symbols and poll settings, so replay builds the same requests); JSON.
    pub setup: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} line {line}: {reason}")]
    Format {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Line {
    Header {
        exchange: String,
        /// A tagged enum buffers its fields, which `RawValue` cannot be read from;
        /// the header is read once, so a tree is fine here.
        #[serde(default)]
        setup: Option<serde_json::Value>,
    },
    Http {
        url: String,
        data: String,
        ts: f64,
        ts_ns: Option<i64>,
    },
    Connect {
        #[serde(default)]
        conn: String,
        #[serde(alias = "addr")]
        url: String,
        ts: f64,
        ts_ns: Option<i64>,
        #[serde(default)]
        replaces: Option<String>,
    },
    Send {
        #[serde(default)]
        conn: String,
        data: String,
        ts: f64,
        ts_ns: Option<i64>,
    },
    Recv {
        #[serde(default)]
        conn: String,
        data: String,
        ts: f64,
        ts_ns: Option<i64>,
    },
    Disconnect {
        conn: String,
        ts: f64,
        ts_ns: Option<i64>,
    },
}

/// The exact time when the line has it (our recordings), else the float seconds; a time
/// before 1970 or past what i64 nanoseconds hold is an error, never a wrapped value.
fn time(ts: f64, ts_ns: Option<i64>) -> Result<i64, String> {
    match ts_ns {
        Some(ns) if ns >= 0 => Ok(ns),
        Some(ns) => Err(format!("ts_ns {ns} is out of range")),
        None => seconds_to_ns(ts).ok_or_else(|| format!("ts {ts} is out of range")),
    }
}

/// Latest time i64 nanoseconds hold, in whole seconds (2262-04-11).
const MAX_SECONDS: f64 = 9_223_372_036.0;

/// Seconds (as recorded, a float) to integer nanoseconds, rounded to the microsecond the
/// recorder actually had; `None` out of range (negative, NaN, past 2262).
pub fn seconds_to_ns(ts: f64) -> Option<i64> {
    if !(0.0..MAX_SECONDS).contains(&ts) {
        return None;
    }
    ((ts * 1e6).round() as i64).checked_mul(1000)
}

pub fn read(path: &Path) -> Result<Recording, ReadError> {
    let io = |source| ReadError::Io {
        path: path.into(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(io)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut lines = reader.lines().enumerate().peekable();
    let first_is_cryptofeed = matches!(lines.peek(), Some((_, Ok(l))) if l.starts_with("{\"t\""));
    let mut rec = Recording::default();
    let mut hft = HftState::default();
    for (i, line) in lines {
        let line = line.map_err(io)?;
        let fmt = |reason: String| ReadError::Format {
            path: path.into(),
            line: i + 1,
            reason,
        };
        if line.trim().is_empty() {
            continue;
        }
        if first_is_cryptofeed {
            let parsed = serde_json::from_str::<Line>(&line).map_err(|e| fmt(e.to_string()))?;
            match event(parsed) {
                Ok(e) => rec.events.push(e),
                Err(Header(exchange, setup)) => {
                    rec.exchange = exchange;
                    rec.setup = setup.map(|s| s.to_string());
                }
                Err(OutOfRange(reason)) => {
                    tracing::warn!(line = i + 1, "recording line skipped: {reason}");
                    rec.skipped_lines += 1;
                }
            }
        } else {
            hft.line(&line, &mut rec.events).map_err(fmt)?;
        }
    }
    if !first_is_cryptofeed {
        hft.finish(&mut rec);
    }
    Ok(rec)
}

/// What a cryptofeed line is besides an event.
enum NotEvent {
    Header(String, Option<serde_json::Value>),
    OutOfRange(String),
}
use NotEvent::{Header, OutOfRange};

fn event(line: Line) -> Result<Recorded, NotEvent> {
    let at = |ts, ts_ns| time(ts, ts_ns).map_err(OutOfRange);
    Ok(match line {
        Line::Header { exchange, setup } => return Err(Header(exchange, setup)),
        Line::Http { url, data, ts, ts_ns } => Recorded::Http {
            url,
            body: data,
            ts_ns: at(ts, ts_ns)?,
        },
        Line::Connect {
            conn,
            url,
            ts,
            ts_ns,
            replaces,
        } => Recorded::Connect {
            conn,
            url,
            ts_ns: at(ts, ts_ns)?,
            replaces,
        },
        Line::Send {
            conn,
            data,
            ts,
            ts_ns,
        } => Recorded::Send {
            conn,
            data,
            ts_ns: at(ts, ts_ns)?,
        },
        Line::Recv {
            conn,
            data,
            ts,
            ts_ns,
        } => Recorded::Recv {
            conn,
            data,
            ts_ns: at(ts, ts_ns)?,
        },
        Line::Disconnect { conn, ts, ts_ns } => Recorded::Disconnect {
            conn,
            ts_ns: at(ts, ts_ns)?,
        },
    })
}

/// hftbacktest captures name neither venue nor symbol for the snapshot: both are taken
/// from the frames (futures diffs carry `pu`; frames carry `s`).
#[derive(Default)]
struct HftState {
    symbol: Option<String>,
    futures: bool,
    snapshots: Vec<usize>,
}

impl HftState {
    fn line(&mut self, line: &str, events: &mut Vec<Recorded>) -> Result<(), String> {
        let (ts, frame) = line.split_once(' ').ok_or("expected `<ns> <json>`")?;
        let ts_ns: i64 = ts.parse().map_err(|_| format!("bad timestamp {ts:?}"))?;
        if frame.starts_with("{\"stream\"") {
            if self.symbol.is_none() {
                self.symbol = frame
                    .split("\"s\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_owned);
            }
            self.futures |= frame.contains("\"pu\":");
            events.push(Recorded::Recv {
                conn: String::new(),
                data: frame.to_owned(),
                ts_ns,
            });
        } else {
            self.snapshots.push(events.len());
            events.push(Recorded::Http {
                url: String::new(),
                body: frame.to_owned(),
                ts_ns,
            });
        }
        Ok(())
    }

    fn finish(self, rec: &mut Recording) {
        let (name, venue) = crate::venues::binance::venue::of_capture(self.futures);
        rec.exchange = name.to_owned();
        let symbol = self.symbol.unwrap_or_default();
        for i in self.snapshots {
            if let Recorded::Http { url, .. } = &mut rec.events[i] {
                *url = format!(
                    "{}{}/depth?symbol={symbol}&limit=1000",
                    venue.rest_url, venue.api_prefix
                );
            }
        }
    }
}
