//! WebSocket connections: stream (direct or via proxy) → TLS to the exchange host with SNI
//! and certificate verification → WebSocket upgrade; and the connection handle adapters use.

use super::error::{Cause, Redactor};
use super::resolver::Route;
use super::tls::{TlsConfigs, server_name};
use super::tunnel::{self, BoxIo};
use crate::config::ExchangeId;
use futures_util::{SinkExt, StreamExt};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use url::Url;

pub(super) async fn open(
    url: &Url,
    route: &Route,
    tls: &TlsConfigs,
    redactor: &Redactor,
) -> Result<WebSocketStream<BoxIo>, Cause> {
    let host = url.host_str().ok_or_else(|| Cause::Url("no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Cause::Url("no port".into()))?;
    let connector = TlsConnector::from(tls.stream.clone());
    let stream: BoxIo = match route {
        Route::Direct => Box::new(tunnel::direct(host, port).await?),
        Route::Proxy(p) => tunnel::via_proxy(&p.url, host, port, &connector, redactor).await?,
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
    pub exchange: ExchangeId,
    pub url: String,
    pub source: tokio_tungstenite::tungstenite::Error,
}

/// An open WebSocket. Pings are answered by the protocol layer while reading.
pub struct WsConn {
    exchange: ExchangeId,
    url: Url,
    ws: WebSocketStream<BoxIo>,
}

impl WsConn {
    pub(super) fn new(exchange: ExchangeId, url: Url, ws: WebSocketStream<BoxIo>) -> Self {
        Self { exchange, url, ws }
    }

    fn err(&self, source: tokio_tungstenite::tungstenite::Error) -> WsError {
        WsError {
            exchange: self.exchange,
            url: self.url.to_string(),
            source,
        }
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), WsError> {
        self.ws.send(Message::text(text)).await.map_err(|e| self.err(e))
    }

    /// The next text frame; `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Utf8Bytes>, WsError> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => return Ok(Some(t)),
                Some(Ok(Message::Binary(b))) => match Utf8Bytes::try_from(b) {
                    Ok(t) => return Ok(Some(t)),
                    Err(_) => tracing::warn!(exchange = %self.exchange, "non-UTF-8 binary frame ignored"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(self.err(e)),
            }
        }
    }

    /// Sends a close frame; errors are irrelevant at this point.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
