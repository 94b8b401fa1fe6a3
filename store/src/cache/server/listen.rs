//! The server's accept loop, with the limits a public listener needs: at
//! most [`ServeLimits::max_connections`] connections at once (a client over
//! the cap waits in the kernel's listen queue and holds no descriptor of
//! ours until a slot frees), and a connection that does not send a complete
//! request head within [`ServeLimits::header_timeout`] (also between
//! requests on a kept-alive connection) is closed.
//!
//! It does not look at requests: routing and the upload limits are in the
//! handlers ([`super`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

use super::ServeLimits;

/// How long [`serve`] waits, once stopped, for requests still running.
const DRAIN: Duration = Duration::from_secs(60);

/// Serves `app` on `listener` until `stop` fires, then lets running
/// requests finish (for at most [`DRAIN`]).
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut stop = stop;
    loop {
        // A slot first, then accept: over the cap, clients queue in the kernel.
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => p.map_err(io::Error::other)?,
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept:
                    // keep serving the others.
                    tracing::warn!("cache server: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // The slot is held as long as the connection lives.
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!("cache server: connection ended: {e}");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("cache server: requests still running after {DRAIN:?}; stopping anyway");
        }
    }
    Ok(())
}
