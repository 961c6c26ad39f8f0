//! WebSocket connections: stream (direct or via proxy) → TLS to the exchange host with SNI
//! and certificate verification → WebSocket upgrade; and the connection handle adapters use.

use super::error::{Cause, Redactor};
use super::resolver::Route;
use super::tls::{TlsConfigs, server_name};
use super::tunnel::{self, BoxIo};
use crate::model::VenueId;
use crate::model::now_ns;
use crate::record::writer::Recorder;
use futures_util::{SinkExt, StreamExt};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use url::Url;

/// Opens the stream, TLS and WebSocket by `deadline`; past it during the proxy's part
/// the cause is the proxy's handshake timeout, later the venue's.
pub(super) async fn open(
    url: &Url,
    route: &Route,
    tls: &TlsConfigs,
    redactor: &Redactor,
    deadline: tokio::time::Instant,
) -> Result<WebSocketStream<BoxIo>, Cause> {
    let host = url.host_str().ok_or_else(|| Cause::Url("no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Cause::Url("no port".into()))?;
    let connector = TlsConnector::from(tls.stream.clone());
    let stream: BoxIo = match route {
        Route::Direct => Box::new(tunnel::direct(host, port).await?),
        Route::Proxy(p) => {
            let tunnel = tunnel::via_proxy(&p.url, host, port, &connector, redactor);
            tokio::time::timeout_at(deadline, tunnel)
                .await
                .map_err(|_| Cause::ProxyTimeout(route.timeout().as_millis()))??
        }
    };
    let stream: BoxIo = match url.scheme() {
        "wss" => Box::new(
            connector
                .connect(server_name(host)?, stream)
                .await
                .map_err(|e| Cause::Tls {
                    host: host.to_owned(),
                    reason: redactor.clean(e.to_string()),
                })?,
        ),
        "ws" => stream,
        other => return Err(Cause::Url(format!("unsupported WebSocket scheme {other}"))),
    };
    let (ws, _response) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .map_err(|e| Cause::Handshake(redactor.clean(e.to_string())))?;
    Ok(ws)
}

#[derive(Debug, thiserror::Error)]
#[error("{exchange} websocket {url}: {source}")]
pub struct WsError {
    pub exchange: VenueId,
    pub url: String,
    pub source: tokio_tungstenite::tungstenite::Error,
}

/// A text frame and when it arrived.
pub struct Frame {
    pub text: Utf8Bytes,
    pub receive_ts_ns: i64,
}

/// An open WebSocket. Pings are answered by the protocol layer while reading. When
/// recording, every frame sent and received is tapped here, in the order it passed.
pub struct WsConn {
    exchange: VenueId,
    url: Url,
    ws: WebSocketStream<BoxIo>,
    /// The recording and this connection's name in it.
    tap: Option<(Recorder, String)>,
    connected_ts_ns: i64,
    /// A frame read from the socket whose `recv` was cancelled (by a `select!`) while it
    /// waited for room in the recording queue; the next `recv` returns it.
    read: Option<Frame>,
    /// Counts this connection (pool member, proxy, feed, frames) while it is open.
    watched: super::Watched,
}

impl WsConn {
    pub(super) fn new(
        exchange: VenueId,
        url: Url,
        ws: WebSocketStream<BoxIo>,
        tap: Option<(Recorder, String)>,
        connected_ts_ns: i64,
        watched: super::Watched,
    ) -> Self {
        Self {
            exchange,
            url,
            ws,
            tap,
            connected_ts_ns,
            read: None,
            watched,
        }
    }

    /// The connection's name in the recording, when recording.
    pub fn recorded_name(&self) -> Option<&str> {
        self.tap.as_ref().map(|(_, conn)| conn.as_str())
    }

    /// When the connection was established (as recorded).
    pub fn connected_ts_ns(&self) -> i64 {
        self.connected_ts_ns
    }

    fn err(&self, source: tokio_tungstenite::tungstenite::Error) -> WsError {
        WsError {
            exchange: self.exchange,
            url: self.url.to_string(),
            source,
        }
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), WsError> {
        if let Some((r, conn)) = &self.tap {
            r.send(conn, &text, now_ns()).await;
        }
        self.ws.send(Message::text(text)).await.map_err(|e| self.err(e))
    }

    /// Sends `text`, which contains `secret` (a token): a recording gets `***` in its
    /// place.
    pub async fn send_secret(&mut self, text: String, secret: &str) -> Result<(), WsError> {
        if let Some((r, conn)) = &self.tap {
            r.send(conn, &text.replace(secret, "***"), now_ns()).await;
        }
        self.ws.send(Message::text(text)).await.map_err(|e| self.err(e))
    }

    /// The next text frame; `None` when the server closed the connection. Cancel-safe:
    /// a frame is never lost nor recorded twice when the call is dropped mid-way.
    pub async fn recv(&mut self) -> Result<Option<Frame>, WsError> {
        if self.read.is_none() {
            let frame = self.read_frame().await?;
            self.read = frame;
        }
        if let (Some((r, conn)), Some(f)) = (&self.tap, &self.read) {
            r.recv(conn, &f.text, f.receive_ts_ns).await;
        }
        Ok(self.read.take())
    }

    async fn read_frame(&mut self) -> Result<Option<Frame>, WsError> {
        let text = loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => break t,
                Some(Ok(Message::Binary(b))) => match Utf8Bytes::try_from(b) {
                    Ok(t) => break t,
                    Err(_) => tracing::warn!(exchange = %self.exchange, "non-UTF-8 binary frame ignored"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(self.err(e)),
            }
        };
        let receive_ts_ns = now_ns();
        if let Some(counters) = &self.watched.frames {
            counters.frame(text.len(), receive_ts_ns);
        }
        Ok(Some(Frame { text, receive_ts_ns }))
    }

    /// Sends a close frame; errors are irrelevant at this point.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// The connection is given up as lost (`reason`): a recording notes when, and that
    /// time is returned so the books announced `resyncing` carry it too.
    pub async fn lost(self, reason: &str) -> i64 {
        let ts_ns = now_ns();
        if let Some((r, conn)) = &self.tap {
            r.disconnect(conn, reason, ts_ns).await;
        }
        self.close().await;
        ts_ns
    }
}
