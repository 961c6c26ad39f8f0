//! Byte streams to a target `host:port`: direct TCP, an HTTP `CONNECT` tunnel (over TCP
//! or TLS to the proxy), or a SOCKS4/4a/5/5h handshake via tokio-socks. The caller adds
//! TLS to the target and the application protocol on top.

use super::error::{Cause, Redactor};
use crate::config::{Credentials, ProxyScheme, ProxyUrl};
use base64::Engine;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_socks::tcp::{Socks4Stream, Socks5Stream};

/// Any stream a connection runs over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// Longest proxy reply header accepted for a CONNECT.
const MAX_CONNECT_REPLY_BYTES: usize = 16 * 1024;

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Cause> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Cause::Dns(format!("{host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Cause::Dns(format!("{host}: no addresses")));
    }
    Ok(addrs)
}

async fn tcp_to_any(addrs: &[SocketAddr]) -> Result<TcpStream, std::io::Error> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no addresses")))
}

/// A TCP connection straight to the target.
pub async fn direct(host: &str, port: u16) -> Result<TcpStream, Cause> {
    let addrs = resolve(host, port).await?;
    tcp_to_any(&addrs)
        .await
        .map_err(|e| Cause::TargetUnreachable(e.to_string()))
}

/// A stream to `host:port` relayed by `proxy`.
pub async fn via_proxy(
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    tls: &TlsConnector,
    redactor: &Redactor,
) -> Result<BoxIo, Cause> {
    let proxy_addrs = resolve(&proxy.host, proxy.port)
        .await
        .map_err(|e| Cause::ProxyUnreachable(e.to_string()))?;
    let tcp = tcp_to_any(&proxy_addrs)
        .await
        .map_err(|e| Cause::ProxyUnreachable(e.to_string()))?;
    let creds = proxy.credentials.as_ref();
    let socks = |e: tokio_socks::Error| socks_cause(e, redactor);
    Ok(match proxy.scheme {
        ProxyScheme::Http => Box::new(connect_tunnel(tcp, host, port, creds).await?),
        ProxyScheme::Https => {
            let name = super::tls::server_name(&proxy.host)?;
            let tls_stream =
                (tls.connect(name, tcp).await).map_err(|e| Cause::ProxyTls(redactor.clean(e.to_string())))?;
            Box::new(connect_tunnel(tls_stream, host, port, creds).await?)
        }
        ProxyScheme::Socks4 => {
            let target = resolve(host, port)
                .await?
                .into_iter()
                .find(SocketAddr::is_ipv4)
                .ok_or_else(|| Cause::Dns(format!("{host}: no IPv4 address for SOCKS4")))?;
            Box::new(
                match creds {
                    Some(c) => {
                        Socks4Stream::connect_with_userid_and_socket(tcp, target, c.username.expose()).await
                    }
                    None => Socks4Stream::connect_with_socket(tcp, target).await,
                }
                .map_err(socks)?,
            )
        }
        ProxyScheme::Socks4a => Box::new(
            match creds {
                Some(c) => {
                    Socks4Stream::connect_with_userid_and_socket(tcp, (host, port), c.username.expose()).await
                }
                None => Socks4Stream::connect_with_socket(tcp, (host, port)).await,
            }
            .map_err(socks)?,
        ),
        ProxyScheme::Socks5 => {
            let target = resolve(host, port).await?[0];
            Box::new(socks5(tcp, target, creds).await.map_err(socks)?)
        }
        ProxyScheme::Socks5h => Box::new(socks5(tcp, (host, port), creds).await.map_err(socks)?),
    })
}

async fn socks5<'t>(
    tcp: TcpStream,
    target: impl tokio_socks::IntoTargetAddr<'t>,
    creds: Option<&Credentials>,
) -> Result<Socks5Stream<TcpStream>, tokio_socks::Error> {
    match creds {
        Some(c) => {
            Socks5Stream::connect_with_password_and_socket(
                tcp,
                target,
                c.username.expose(),
                c.password.expose(),
            )
            .await
        }
        None => Socks5Stream::connect_with_socket(tcp, target).await,
    }
}

fn socks_cause(e: tokio_socks::Error, redactor: &Redactor) -> Cause {
    use tokio_socks::Error as E;
    let text = redactor.clean(e.to_string());
    match e {
        E::PasswordAuthFailure(_) | E::AuthorizationRequired | E::NoAcceptableAuthMethods => {
            Cause::ProxyAuth(text)
        }
        E::Io(_) => Cause::ProxyUnreachable(text),
        _ => Cause::ProxyRefused(format!("SOCKS reply: {text}")),
    }
}

/// Sends `CONNECT host:port` and reads the reply header byte by byte, so no byte of the
/// tunnelled stream is consumed.
async fn connect_tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    port: u16,
    creds: Option<&Credentials>,
) -> Result<S, Cause> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(c) = creds {
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.username.expose(),
            c.password.expose()
        ));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let io_err = |e: std::io::Error| Cause::ProxyUnreachable(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let mut reply = Vec::with_capacity(256);
    while !reply.ends_with(b"\r\n\r\n") {
        if reply.len() >= MAX_CONNECT_REPLY_BYTES {
            return Err(Cause::ProxyRefused("CONNECT reply header too long".into()));
        }
        let byte = stream
            .read_u8()
            .await
            .map_err(|e| Cause::ProxyRefused(format!("proxy closed the connection during CONNECT: {e}")))?;
        reply.push(byte);
    }
    let text = String::from_utf8_lossy(&reply);
    let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match status {
        200..=299 => Ok(stream),
        // 401 is what some proxies (tinyproxy) answer to wrong credentials.
        401 | 407 => Err(Cause::ProxyAuth(status_line)),
        _ => Err(Cause::ProxyRefused(format!("CONNECT answered {status_line:?}"))),
    }
}
