//! The stdout sink: one JSON object per line, flushed whenever the queue runs empty.

use crate::model::Event;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Writes every event until the queue closes. Returns how many were written.
pub async fn run<W: AsyncWrite + Unpin>(mut events: mpsc::Receiver<Event>, out: W) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::with_capacity(1024);
    let mut written = 0;
    while let Some(event) = events.recv().await {
        let mut next = Some(event);
        while let Some(e) = next {
            crate::metrics::observe(&e);
            line.clear();
            serde_json::to_writer(&mut line, &e).map_err(std::io::Error::other)?;
            line.push(b'\n');
            out.write_all(&line).await?;
            crate::metrics::sink_events("delivered", 1);
            written += 1;
            next = events.try_recv().ok();
        }
        out.flush().await?;
    }
    out.flush().await?;
    Ok(written)
}
