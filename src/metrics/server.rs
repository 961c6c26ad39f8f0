//! The HTTP endpoint of `metrics.listen` (hyper, HTTP/1.1): `/metrics` in the
//! Prometheus text format, `/health/live` (the process answers) and `/health/ready`
//! (every configured feed connected and its books synced; 503 and a JSON body naming
//! what is not). It only listens; it never dials out.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds `addr` (so a busy port fails at start) and serves until `shutdown`; the bound
/// address is returned (port 0 picks one).
pub async fn start(addr: SocketAddr, mut shutdown: watch::Receiver<bool>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listen = %bound, "serving /metrics, /health/live and /health/ready");
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!("metrics endpoint: accept failed: {e}");
                        continue;
                    }
                },
                _ = crate::venues::stopped(&mut shutdown) => return,
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req| async move {
                    Ok::<_, std::convert::Infallible>(answer(&req))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("metrics endpoint connection: {e}");
                }
            });
        }
    });
    Ok(bound)
}

fn answer<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => (
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            super::scrape(),
        ),
        ("GET", "/health/live") => (StatusCode::OK, "application/json", r#"{"live":true}"#.to_owned()),
        ("GET", "/health/ready") => {
            let (ready, feeds) = super::health::report();
            let body = serde_json::json!({ "ready": ready, "feeds": feeds }).to_string();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, "application/json", body)
        }
        ("GET", _) => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_owned()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}
