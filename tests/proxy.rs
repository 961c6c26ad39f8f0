//! The connection factory through real proxy servers on loopback: every scheme, with and
//! without credentials, for HTTP and WebSocket. Each test proves from the proxy's own log
//! that the traffic went through it (and, for the name-sending schemes, that the proxy got
//! the host name `localhost`), and from the venue that it arrived.

mod support;

use feedhandler::model::VenueId;
use feedhandler::net::{Cause, ConnectError, ConnectionFactory};
use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use std::sync::Arc;
use support::proxies::{DANTE_USER, Proxy};
use support::*;

const CREDS: (&str, &str) = ("feeduser", "s3cret-Pa55");

async fn venue() -> LocalVenue {
    LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await
}

/// A factory whose default proxies are `http` and `websocket` (YAML values).
fn factory(
    venue: &LocalVenue,
    http: Option<&str>,
    websocket: Option<&str>,
    exchanges_yaml: &str,
) -> Arc<ConnectionFactory> {
    let line = |k: &str, v: Option<&str>| v.map(|v| format!("    {k}: \"{v}\"\n")).unwrap_or_default();
    let yaml = format!(
        "proxy:\n  default:\n{}{}{exchanges_yaml}exchanges:\n  binance: {{ symbols: [BTC-USDT], channels: [trades] }}\ntls:\n  ca_file: {}\n",
        line("http", http),
        line("websocket", websocket),
        venue.ca.ca_pem.display()
    );
    let path = write_config(venue.dir.path(), "proxy.yaml", &yaml);
    ConnectionFactory::from_config(&feedhandler::config::load(&path).unwrap()).unwrap()
}

async fn get(f: &Arc<ConnectionFactory>, venue: &LocalVenue) -> Result<String, ConnectError> {
    let url = url::Url::parse(&format!("{}/api/v3/exchangeInfo", venue.rest_url())).unwrap();
    f.http(VenueId::new("binance").unwrap()).get_text(&url).await
}

/// Opens a WebSocket, subscribes, returns the venue's first reply and closes.
async fn ws(f: &Arc<ConnectionFactory>, venue: &LocalVenue) -> Result<String, ConnectError> {
    let url = url::Url::parse(&format!("{}/stream", venue.ws_url())).unwrap();
    let mut conn = f.websocket(VenueId::new("binance").unwrap(), &url).await?;
    conn.send_text(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#.into())
        .await
        .unwrap();
    let reply = conn.recv().await.unwrap().unwrap().text.to_string();
    conn.close().await;
    Ok(reply)
}

/// HTTP and WebSocket through `url`; both must reach the venue. Returns after the
/// factory (and with it every pooled tunnel) is gone, so proxies that log on close have.
async fn both_through(venue: &LocalVenue, url: &str) {
    let f = factory(venue, Some(url), Some(url), "");
    let body = get(&f, venue)
        .await
        .unwrap_or_else(|e| panic!("http via {url}: {e}"));
    assert!(
        body.contains(r#""symbol":"BTCUSDT""#),
        "exchangeInfo body: {body}"
    );
    let reply = ws(&f, venue)
        .await
        .unwrap_or_else(|e| panic!("websocket via {url}: {e}"));
    assert_eq!(reply, r#"{"result":null,"id":1}"#);
    drop(f);
    assert_eq!(venue.sim.http_requests(), 1);
    assert_eq!(venue.sim.connections(), 1);
}

/// `needle` appears at least twice: one HTTP request and one WebSocket.
async fn relayed_twice(p: &Proxy, needle: &str) {
    p.wait_log(needle).await;
    for _ in 0..250 {
        if p.log().matches(needle).count() >= 2 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected two relays of {needle:?}:\n{}", p.log());
}

#[tokio::test]
async fn http_proxy_tinyproxy_without_credentials() {
    let (v, p) = (venue().await, Proxy::tinyproxy(None).await);
    both_through(&v, &p.url("http", None)).await;
    relayed_twice(&p, &format!("CONNECT localhost:{} HTTP/1.1", v.addr.port())).await;
}

#[tokio::test]
async fn http_proxy_squid_with_credentials() {
    let (v, p) = (venue().await, Proxy::squid(Some(CREDS), None).await);
    both_through(&v, &p.url("http", Some(CREDS))).await;
    relayed_twice(&p, &format!("CONNECT localhost:{} {}", v.addr.port(), CREDS.0)).await;
}

#[tokio::test]
async fn https_proxy_squid_without_credentials() {
    let v = venue().await;
    let p = Proxy::squid(None, Some(&v.ca)).await;
    both_through(&v, &p.url("https", None)).await;
    relayed_twice(&p, &format!("CONNECT localhost:{} -", v.addr.port())).await;
}

#[tokio::test]
async fn https_proxy_squid_with_credentials() {
    let v = venue().await;
    let p = Proxy::squid(Some(CREDS), Some(&v.ca)).await;
    both_through(&v, &p.url("https", Some(CREDS))).await;
    relayed_twice(&p, &format!("CONNECT localhost:{} {}", v.addr.port(), CREDS.0)).await;
}

#[tokio::test]
async fn socks4_resolves_locally_via_ssh() {
    let (v, p) = (venue().await, Proxy::ssh_socks().await);
    both_through(&v, &p.url("socks4", None)).await;
    relayed_twice(&p, &format!("target 127.0.0.1 port {}", v.addr.port())).await;
}

#[tokio::test]
async fn socks4_with_userid_via_danted() {
    let (v, p) = (venue().await, Proxy::danted(false).await);
    both_through(&v, &p.url("socks4", Some(("feeduser", "")))).await;
    relayed_twice(&p, &format!("127.0.0.1.{}\n", v.addr.port())).await;
}

#[tokio::test]
async fn socks4a_sends_the_host_name_via_ssh() {
    let (v, p) = (venue().await, Proxy::ssh_socks().await);
    both_through(&v, &p.url("socks4a", None)).await;
    relayed_twice(&p, &format!("target localhost port {}", v.addr.port())).await;
}

#[tokio::test]
async fn socks4a_with_userid_via_ssh() {
    let (v, p) = (venue().await, Proxy::ssh_socks().await);
    both_through(&v, &p.url("socks4a", Some(("feeduser", "")))).await;
    relayed_twice(&p, &format!("target localhost port {}", v.addr.port())).await;
}

#[tokio::test]
async fn socks5_resolves_locally_via_microsocks() {
    let (v, p) = (venue().await, Proxy::microsocks(None).await);
    both_through(&v, &p.url("socks5", None)).await;
    relayed_twice(&p, &format!("connected to 127.0.0.1:{}", v.addr.port())).await;
}

#[tokio::test]
async fn socks5_with_credentials_via_danted() {
    let (v, p) = (venue().await, Proxy::danted(true).await);
    both_through(&v, &p.url("socks5", Some(DANTE_USER))).await;
    relayed_twice(&p, &format!("username%{}@127.0.0.1", DANTE_USER.0)).await;
    relayed_twice(&p, &format!("127.0.0.1.{}\n", v.addr.port())).await;
}

#[tokio::test]
async fn socks5h_sends_the_host_name_via_microsocks() {
    let (v, p) = (venue().await, Proxy::microsocks(None).await);
    both_through(&v, &p.url("socks5h", None)).await;
    relayed_twice(&p, &format!("connected to localhost:{}", v.addr.port())).await;
}

#[tokio::test]
async fn socks5h_with_credentials_via_microsocks() {
    let (v, p) = (venue().await, Proxy::microsocks(Some(CREDS)).await);
    both_through(&v, &p.url("socks5h", Some(CREDS))).await;
    relayed_twice(&p, &format!("connected to localhost:{}", v.addr.port())).await;
}

fn assert_auth_error(e: &ConnectError, proxy: &str) {
    let text = e.to_string();
    assert!(
        matches!(e.cause, Cause::ProxyAuth(_)),
        "not an auth error: {text}"
    );
    assert!(text.contains(proxy), "names the proxy {proxy}: {text}");
    assert!(
        !text.contains("wrong-pass") && !text.contains("s3cret"),
        "leaks the password: {text}"
    );
}

#[tokio::test]
async fn wrong_credentials_fail_clearly_without_the_password() {
    let v = venue().await;
    let squid = Proxy::squid(Some(CREDS), None).await;
    let danted = Proxy::danted(true).await;
    let micro = Proxy::microsocks(Some(CREDS)).await;
    for (p, scheme) in [(&squid, "http"), (&danted, "socks5"), (&micro, "socks5h")] {
        let url = p.url(scheme, Some(("feeduser", "wrong-pass")));
        let f = factory(&v, Some(&url), Some(&url), "");
        let shown = p.url(scheme, None);
        assert_auth_error(&get(&f, &v).await.unwrap_err(), &shown);
        assert_auth_error(&ws(&f, &v).await.unwrap_err(), &shown);
    }
    assert_eq!(
        (v.sim.http_requests(), v.sim.connections()),
        (0, 0),
        "nothing reached the venue"
    );
}

#[tokio::test]
async fn proxy_down_fails_and_never_connects_directly() {
    let v = venue().await;
    let port = support::proxies::free_port();
    for scheme in ["http", "https", "socks4", "socks4a", "socks5", "socks5h"] {
        let url = format!("{scheme}://user:pw-down@127.0.0.1:{port}");
        let f = factory(&v, Some(&url), Some(&url), "");
        for e in [get(&f, &v).await.unwrap_err(), ws(&f, &v).await.unwrap_err()] {
            let text = e.to_string();
            assert!(
                text.contains(&format!("via {scheme}://127.0.0.1:{port}")),
                "{text}"
            );
            assert!(!text.contains("pw-down"), "{text}");
        }
    }
    assert_eq!(
        (v.sim.http_requests(), v.sim.connections()),
        (0, 0),
        "no silent direct connection"
    );
}

#[tokio::test]
async fn resolution_is_per_exchange_then_default_per_kind() {
    let v = venue().await;
    let default_http = Proxy::danted(false).await;
    let default_ws = Proxy::microsocks(None).await;
    let binance_http = Proxy::tinyproxy(None).await;
    let overrides = format!(
        "  exchanges:\n    binance:\n      rest: \"{}\"\n",
        binance_http.url("http", None)
    );
    let f = factory(
        &v,
        Some(&default_http.url("socks5", None)),
        Some(&default_ws.url("socks5h", None)),
        &overrides,
    );
    get(&f, &v).await.unwrap();
    ws(&f, &v).await.unwrap();
    drop(f);
    binance_http
        .wait_log(&format!("CONNECT localhost:{}", v.addr.port()))
        .await;
    default_ws
        .wait_log(&format!("connected to localhost:{}", v.addr.port()))
        .await;
    assert!(
        !default_http
            .log()
            .contains(&format!("127.0.0.1.{}", v.addr.port())),
        "default http proxy unused"
    );
    assert_eq!(
        binance_http.log().matches("CONNECT localhost").count(),
        1,
        "websocket did not use the http override"
    );
}
