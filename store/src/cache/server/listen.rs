//! The server's accept loop, with the limits a public listener needs:
//! - at most [`ServeLimits::max_connections`] connections at once (a client
//!   over the cap waits in the kernel's listen queue and holds no descriptor
//!   of ours until a slot frees);
//! - at most [`ServeLimits::max_connections_per_address`] from one client
//!   address (an IPv6 client's whole /64), so one client cannot take every
//!   slot; a connection over it is closed at once;
//! - a connection that does not send a complete request head within
//!   [`ServeLimits::header_timeout`] (also between requests on a kept-alive
//!   connection) is closed;
//! - when every slot is taken, kept-alive connections that have been served
//!   are asked to close after their current response (as Apache's event MPM
//!   does), so clients that send a request now and then to keep their
//!   connections cannot hold the slots; and every connection closes after
//!   [`ServeLimits::connection_lifetime`], once its current response is sent.
//!
//! It does not look at requests: routing and the upload limits are in the
//! handlers ([`super`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify, Semaphore};

use super::ServeLimits;

/// How long [`serve`] waits, once stopped, for requests still running.
const DRAIN: Duration = Duration::from_secs(60);

/// How often idle connections are asked to close while every slot is taken.
const SHED_INTERVAL: Duration = Duration::from_millis(250);

/// Connections per client address; the count goes down when a guard drops.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct AddressGuard {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    /// A guard for one more connection from `key`, or `None` over `max`.
    fn admit(self: &Arc<Self>, key: IpAddr, max: usize) -> Option<AddressGuard> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressGuard {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.key);
            }
        }
    }
}

/// What counts as one client: an IPv4 address, or an IPv6 /64 (one host
/// usually has a whole /64 to pick addresses from).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Serves `app` on `listener` until `stop` fires, then lets running
/// requests finish (for at most [`DRAIN`]).
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let per_address = Arc::new(PerAddress::default());
    // Fired when every slot is taken: served idle connections close.
    let shed = Arc::new(Notify::new());
    let (stopping_tx, stopping) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut stop = stop;
    loop {
        // A slot first, then accept: over the cap, clients queue in the kernel.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Asked again while full: a connection may have finished its
                // first request since.
                let mut nudge = tokio::time::interval(SHED_INTERVAL);
                let permit = loop {
                    tokio::select! {
                        _ = &mut stop => break None,
                        p = slots.clone().acquire_owned() => break Some(p.map_err(io::Error::other)?),
                        _ = nudge.tick() => shed.notify_waiters(),
                    }
                };
                match permit {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept:
                    // keep serving the others.
                    tracing::warn!("cache server: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let key = client_key(peer.ip());
        let Some(guard) = per_address.admit(key, limits.max_connections_per_address.max(1)) else {
            tracing::debug!("cache server: {key} is over its connection limit");
            // Dropping the stream closes it; the permit goes back.
            continue;
        };
        let served = Arc::new(AtomicBool::new(false));
        let inner = TowerToHyperService::new(app.clone());
        let mark = served.clone();
        let service = hyper::service::service_fn(move |req| {
            let answer = hyper::service::Service::call(&inner, req);
            let mark = mark.clone();
            async move {
                let r = answer.await;
                mark.store(true, Ordering::Relaxed);
                r
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let (shed, mut stopping) = (shed.clone(), stopping.clone());
        let lifetime = limits.connection_lifetime;
        tokio::spawn(async move {
            // The slot and the address count are held as long as the connection lives.
            let (_permit, _guard) = (permit, guard);
            let mut conn = std::pin::pin!(conn);
            let expiry = tokio::time::sleep(lifetime);
            tokio::pin!(expiry);
            let mut closing = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!("cache server: connection ended: {e}");
                        }
                        break;
                    }
                    () = shed.notified(), if !closing => {
                        // Only connections that have had an answer: a fresh
                        // one is still sending its first request.
                        if served.load(Ordering::Relaxed) {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                    () = &mut expiry, if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = stopping.changed(), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        });
    }
    let _ = stopping_tx.send(true);
    // Every connection holds a slot: all of them back means all are done.
    tokio::select! {
        _ = slots.acquire_many(max as u32) => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("cache server: requests still running after {DRAIN:?}; stopping anyway");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_addresses_or_v6_prefixes() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(
            client_key(mapped),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
        let v4: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn per_address_counts_go_down_with_their_guards() {
        let t = Arc::new(PerAddress::default());
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let g1 = t.admit(ip, 2).expect("first");
        let _g2 = t.admit(ip, 2).expect("second");
        assert!(t.admit(ip, 2).is_none(), "third is over");
        assert!(t.admit("10.0.0.2".parse().expect("ip"), 2).is_some());
        drop(g1);
        assert!(t.admit(ip, 2).is_some(), "a slot came back");
    }
}
