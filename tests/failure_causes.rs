//! The factory tells its resolver why each attempt failed, and only the proxy's own
//! failures count against a proxy: a venue's 404 or 429 through a working proxy (a real
//! microsocks on loopback, which logs the relay) does not; a dead or refusing proxy does.

mod support;

use feedhandler::config::{ProxyEndpoint, ProxyUrl};
use feedhandler::model::VenueId;
use feedhandler::net::{Cause, ConnKind, ConnectionFactory, Outcome, ProxyResolver, Redactor, Route};
use feedhandler::sim::Playback;
use feedhandler::sim::binance::Switches;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::proxies::{Proxy, free_port};
use support::*;

/// Always `route`; keeps every report as (kind, failed, counts against the proxy, cause).
struct Recorded {
    route: Route,
    reports: Mutex<Vec<(ConnKind, bool, bool, String)>>,
}

impl ProxyResolver for Recorded {
    fn route(&self, _: VenueId, _: ConnKind) -> BoxFuture<'_, Result<Route, Cause>> {
        let route = self.route.clone();
        Box::pin(async move { Ok(route) })
    }
    fn report(&self, _: VenueId, kind: ConnKind, _: &Route, outcome: Outcome<'_>) {
        let (failed, cause) = match outcome {
            Outcome::Success { .. } => (false, String::new()),
            Outcome::Failure(cause) => (true, cause.to_string()),
        };
        let against = outcome.counts_against_proxy();
        self.reports.lock().unwrap().push((kind, failed, against, cause));
    }
    fn describe(&self, _: VenueId, _: ConnKind) -> String {
        self.route.to_string()
    }
}

fn via(proxy_url: &str) -> Arc<Recorded> {
    Arc::new(Recorded {
        route: Route::Proxy(ProxyEndpoint {
            url: ProxyUrl::try_from(proxy_url.to_owned()).unwrap(),
            timeout_seconds: 5,
        }),
        reports: Mutex::new(Vec::new()),
    })
}

fn factory(resolver: &Arc<Recorded>, venue: &LocalVenue) -> Arc<ConnectionFactory> {
    let ca = Some(venue.ca.ca_pem.as_path());
    ConnectionFactory::new(resolver.clone(), ca, Redactor::default(), HashMap::new()).unwrap()
}

fn binance() -> VenueId {
    VenueId::new("binance").unwrap()
}

#[tokio::test]
async fn venue_answers_through_a_working_proxy_do_not_count_against_it() {
    let switches = Switches {
        rate_limit_snapshots: 1,
        ..Switches::default()
    };
    let venue = LocalVenue::start(&recording(SPOT_HFT), switches).await;
    let proxy = Proxy::microsocks(None).await;
    let resolver = via(&proxy.url("socks5h", None));
    let http = factory(&resolver, &venue).http(binance());
    let url = |path: &str| url::Url::parse(&format!("{}{path}", venue.rest_url())).unwrap();
    let missing = http.get_text(&url("/api/v3/nothing-here")).await.unwrap_err();
    assert!(
        matches!(missing.cause, Cause::Status { status: 404, .. }),
        "{missing}"
    );
    let limited = http
        .get_text(&url("/api/v3/depth?symbol=BTCUSDT&limit=1000"))
        .await
        .unwrap_err();
    assert!(
        matches!(limited.cause, Cause::Status { status: 429, .. }),
        "{limited}"
    );
    http.get(&url("/api/v3/exchangeInfo")).await.unwrap();
    // The three requests reached the venue through the proxy.
    proxy
        .wait_log(&format!("connected to localhost:{}", venue.addr.port()))
        .await;
    assert_eq!(venue.sim.http_requests(), 3);
    let reports = resolver.reports.lock().unwrap().clone();
    let summary: Vec<(bool, bool)> = reports.iter().map(|(_, f, a, _)| (*f, *a)).collect();
    assert_eq!(
        summary,
        [(true, false), (true, false), (false, false)],
        "{reports:?}"
    );
}

#[tokio::test]
async fn a_dead_proxy_counts_against_it_for_http_and_websocket() {
    let venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    for scheme in ["socks5h", "http"] {
        let resolver = via(&format!("{scheme}://127.0.0.1:{}", free_port()));
        let f = factory(&resolver, &venue);
        let rest = url::Url::parse(&format!("{}/api/v3/exchangeInfo", venue.rest_url())).unwrap();
        let e = f.http(binance()).get_text(&rest).await.unwrap_err();
        assert!(
            matches!(e.cause, Cause::ProxyUnreachable(_)),
            "{scheme} http: {e}"
        );
        let ws = url::Url::parse(&format!("{}/stream", venue.ws_url())).unwrap();
        let e = f.websocket(binance(), &ws).await.err().expect("no proxy there");
        assert!(
            matches!(e.cause, Cause::ProxyUnreachable(_)),
            "{scheme} websocket: {e}"
        );
        let reports = resolver.reports.lock().unwrap().clone();
        let kinds: Vec<(ConnKind, bool, bool)> = reports.iter().map(|(k, f, a, _)| (*k, *f, *a)).collect();
        assert_eq!(
            kinds,
            [(ConnKind::Http, true, true), (ConnKind::Websocket, true, true)],
            "{scheme}: {reports:?}"
        );
    }
    assert_eq!(venue.sim.http_requests(), 0, "nothing went direct");
    assert_eq!(venue.sim.connections(), 0, "nothing went direct");
}

/// A new route for every attempt, as a pool or a proxy service may hand out.
struct Rotating(Mutex<Vec<Route>>);

impl ProxyResolver for Rotating {
    fn route(&self, _: VenueId, _: ConnKind) -> BoxFuture<'_, Result<Route, Cause>> {
        let route = self.0.lock().unwrap().pop().unwrap_or(Route::Direct);
        Box::pin(async move { Ok(route) })
    }
    fn report(&self, _: VenueId, _: ConnKind, _: &Route, _: Outcome<'_>) {}
    fn describe(&self, _: VenueId, _: ConnKind) -> String {
        "rotating".into()
    }
}

#[tokio::test]
async fn the_http_client_cache_stays_bounded_when_routes_change() {
    let venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    let routes = (0..100)
        .map(|i| {
            let url = ProxyUrl::try_from(format!("socks5h://127.0.0.1:{}", 20_000 + i)).unwrap();
            Route::Proxy(ProxyEndpoint {
                url,
                timeout_seconds: 5,
            })
        })
        .collect();
    let resolver = Arc::new(Rotating(Mutex::new(routes)));
    let ca = Some(venue.ca.ca_pem.as_path());
    let f = ConnectionFactory::new(resolver, ca, Redactor::default(), HashMap::new()).unwrap();
    let url = url::Url::parse(&format!("{}/api/v3/exchangeInfo", venue.rest_url())).unwrap();
    for _ in 0..100 {
        let _ = f.http(binance()).get(&url).await;
    }
    assert_eq!(
        f.http_clients_kept(),
        32,
        "one client per recent route, 32 at most"
    );
}

/// tinyproxy answers wrong credentials with 401 and an HTML page, to CONNECT (https
/// venues) and to plain-http requests alike; both are named as the proxy rejecting
/// the credentials, without the page.
#[tokio::test]
async fn a_401_from_an_http_proxy_is_a_credentials_rejection() {
    let tls_venue = LocalVenue::start(&recording(SPOT_HFT), Switches::default()).await;
    let sim = Arc::new(feedhandler::sim::binance::BinanceSim::new(
        &recording(SPOT_HFT),
        Switches::default(),
    ));
    let (plain, _server) = feedhandler::sim::server::spawn("127.0.0.1:0".parse().unwrap(), None, sim)
        .await
        .unwrap();
    let proxy = Proxy::tinyproxy(Some(("feeduser", "s3cret-Pa55"))).await;
    let resolver = via(&proxy.url("http", Some(("feeduser", "wrong-pass"))));
    let http = factory(&resolver, &tls_venue).http(binance());
    for base in [tls_venue.rest_url(), format!("http://localhost:{}", plain.port())] {
        let url = url::Url::parse(&format!("{base}/api/v3/exchangeInfo")).unwrap();
        let e = http.get_text(&url).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e.cause, Cause::ProxyAuth(_)), "{base}: {text}");
        assert!(text.contains("proxy rejected the credentials"), "{text}");
        assert!(!text.contains("<html") && !text.contains("wrong-pass"), "{text}");
    }
    let reports = resolver.reports.lock().unwrap().clone();
    assert!(
        reports.iter().all(|(_, failed, against, _)| *failed && *against),
        "{reports:?}"
    );
}
