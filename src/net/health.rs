//! Active health checks of a pool's members: every `interval_seconds`, a TCP connection
//! to each member and its proxy handshake (SOCKS or CONNECT) to the configured target,
//! within `timeout_seconds`; no TLS with the target. A failure ejects the member, a
//! success restores an ejected one early. The checks are connections too, made with the
//! factory's proxy code.

use super::ConnectionFactory;
use super::pool::Pool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub(super) async fn run(
    pool: Arc<Pool>,
    factory: Arc<ConnectionFactory>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(check) = pool.config.health_check.clone() else {
        return;
    };
    let Some((host, port)) = check
        .target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
    else {
        return;
    };
    let timeout = Duration::from_secs(u64::from(check.timeout_seconds));
    let mut every = tokio::time::interval(Duration::from_secs(u64::from(check.interval_seconds)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let connector = tokio_rustls::TlsConnector::from(factory.tls.stream.clone());
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = crate::venues::stopped(&mut shutdown) => return,
        }
        for (i, member) in pool.members.iter().enumerate() {
            let tunnel =
                super::tunnel::via_proxy(&member.endpoint.url, &host, port, &connector, &factory.redactor);
            match tokio::time::timeout(timeout, tunnel).await {
                Ok(Ok(_)) => pool.checked(i, true, &"passed"),
                Ok(Err(cause)) => pool.checked(i, false, &cause),
                Err(_) => pool.checked(
                    i,
                    false,
                    &format_args!("no handshake within {} s", check.timeout_seconds),
                ),
            }
        }
    }
}
