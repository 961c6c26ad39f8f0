//! A small HTTP/1.1 + WebSocket server (plain or TLS) on one port, dispatching to a
//! [`Venue`]: GET requests get the venue's reply, WebSocket upgrades are handed to it.
//! It serves local venues for the offline demo and the tests; it never dials out.

use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

pub trait ServerIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ServerIo for T {}

/// The server side of one WebSocket connection.
pub type ServerWs = WebSocketStream<Box<dyn ServerIo>>;

/// A reply to a GET.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
    /// Sent as `Retry-After` (seconds).
    pub retry_after_s: Option<u32>,
}

impl HttpReply {
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            retry_after_s: None,
        }
    }
    pub fn ok(body: impl Into<String>) -> Self {
        Self::status(200, body)
    }
    pub fn not_found() -> Self {
        Self::status(404, r#"{"error":"not found"}"#)
    }
}

/// What a local venue serves.
pub trait Venue: Send + Sync + 'static {
    /// Answers `GET path_and_query`.
    fn http(&self, path_and_query: &str) -> HttpReply;
    /// Runs one WebSocket connection opened at `path_and_query` until it ends.
    fn websocket(self: Arc<Self>, path_and_query: String, ws: ServerWs) -> BoxFuture<'static, ()>;
}

/// Longest request head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Accepts connections on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, venue: Arc<dyn Venue>) {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, venue) = (acceptor.clone(), venue.clone());
        tokio::spawn(async move {
            let io: Box<dyn ServerIo> = match acceptor {
                Some(a) => match a.accept(tcp).await {
                    Ok(s) => Box::new(s),
                    Err(e) => return tracing::debug!(%peer, "TLS accept failed: {e}"),
                },
                None => Box::new(tcp),
            };
            if let Err(e) = handle(io, venue).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// Binds `addr` and serves in a background task; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    venue: Arc<dyn Venue>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, tokio::spawn(serve(listener, tls, venue))))
}

async fn handle(mut io: Box<dyn ServerIo>, venue: Arc<dyn Venue>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = io.read(&mut buf).await?;
        if n == 0 || head.len() > MAX_HEAD_BYTES {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let ws_key = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    });
    match ws_key {
        Some(key) => {
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            io.write_all(reply.as_bytes()).await?;
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            venue.websocket(path, ws).await;
        }
        None => {
            let reply = venue.http(&path);
            let retry_after =
                (reply.retry_after_s).map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
            let head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry_after}Connection: close\r\n\r\n",
                reply.status,
                reply.body.len()
            );
            io.write_all(head.as_bytes()).await?;
            io.write_all(reply.body.as_bytes()).await?;
            io.shutdown().await?;
        }
    }
    Ok(())
}
