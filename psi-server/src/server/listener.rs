//! The accept loop, one HTTP/1.1 connection per task, the idle reaper and
//! graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::routes::route;
use super::shared::{Caller, Shared};
use crate::auth::{Identity, Via};

/// Time open connections get to finish their exchange at shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves or enough sessions ended; then stops
/// accepting and lets open connections finish.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let reaper = tokio::spawn(reap_idle(shared.clone(), stop_rx.clone()));
    let mut connections = tokio::task::JoinSet::new();
    let counts = Counts::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = shared.registry.finished.notified() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(counted) = counts.admit(peer, &shared.config) else {
                    tracing::info!(%peer, "connection refused: too many open connections");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = accepted_connection(shared.clone(), stream, peer, stop_rx.clone());
                connections.spawn(async move {
                    conn.await;
                    drop(counted);
                });
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    shared
        .registry
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        connections.abort_all();
    }
    reaper.abort();
    // Sessions kept on disk wait for their clients and the next start.
    for kept in shared.registry.kept() {
        kept.retain();
    }
}

/// Open connections, in all and per IP address.
#[derive(Clone, Default)]
struct Counts {
    open: Arc<std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>>,
}

/// One counted connection, uncounted when dropped.
struct Counted {
    counts: Counts,
    ip: std::net::IpAddr,
}

impl Counts {
    /// Counts a new connection from `peer`, unless a limit is reached.
    fn admit(&self, peer: SocketAddr, config: &super::config::ServerConfig) -> Option<Counted> {
        let mut open = self.open.lock().ok()?;
        let (all, per) = &mut *open;
        let here = per.entry(peer.ip()).or_insert(0);
        if *all >= config.max_connections || *here >= config.max_connections_per_address {
            return None;
        }
        *here += 1;
        *all += 1;
        Some(Counted {
            counts: self.clone(),
            ip: peer.ip(),
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.counts.open.lock() {
            let (all, per) = &mut *open;
            *all = all.saturating_sub(1);
            if let Some(n) = per.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&self.ip);
                }
            }
        }
    }
}

async fn reap_idle(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limit = shared.config.idle_timeout;
    let period = (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(period) => {}
        }
        shared.registry.reap(limit);
        super::pjc_restore::sweep(&shared).await;
    }
}

/// A new TCP connection: the TLS handshake if configured (bounded by the
/// header timeout), then HTTP.
async fn accepted_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let Some(tls) = shared.config.tls.clone() else {
        return connection(
            shared,
            stream,
            Caller {
                identity: Identity::anonymous(),
                peer,
            },
            stop,
        )
        .await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let limit = shared.config.header_timeout;
    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(%peer, "TLS handshake refused: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake took longer than {} s", limit.as_secs());
            return;
        }
    };
    // With mutual TLS the verifier has checked the chain; its subject names
    // the partner.
    let identity = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| Identity {
            name: crate::tls::certificate_name(cert).unwrap_or_else(|| "unnamed".into()),
            via: Via::Certificate,
        })
        .unwrap_or_else(Identity::anonymous);
    connection(shared, stream, Caller { identity, peer }, stop).await
}

async fn connection<S>(
    shared: Arc<Shared>,
    stream: S,
    caller: Caller,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = shared.config.header_timeout;
    let peer = caller.peer;
    let caller = Arc::new(caller);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let caller = caller.clone();
        async move { Ok::<_, Infallible>(route(shared, &caller, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
