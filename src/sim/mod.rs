//! Loopback simulators (GitHub REST API, OIDC issuer) shared by the tests and `prod-access demo`.
//!
//! They are real HTTP servers on `127.0.0.1`, so the real clients (reqwest) run against
//! them unchanged. A path they do not serve answers `501 METHOD PATH not implemented`,
//! which makes an unexpected call loud. Nothing here is used by `grant` against real
//! services.

pub mod forge;
pub mod oidc;
pub mod story;

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the wire saw it: when it arrived and when its answer was ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub method: String,
    pub path: String,
    pub start: Instant,
    pub end: Instant,
}

/// What both simulators share with the network: a latency added to every answer (for the
/// benchmark: a forge 50 ms away) and the timeline of every request, from which the number
/// of sequential round trips (the critical path) is read.
#[derive(Debug, Default)]
pub struct Wire {
    latency: Mutex<Duration>,
    spans: Mutex<Vec<Span>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Wire {
    /// Every answer from now on waits this long before it is sent.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    /// Every request so far, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        lock(&self.spans).clone()
    }

    pub fn clear(&self) {
        lock(&self.spans).clear();
    }
}

/// The longest chain of requests in which each one arrived after the one before had been
/// answered: the number of sequential round trips a client needed (its critical path).
pub fn critical_path(spans: &[Span]) -> usize {
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.end, s.start));
    // depth[i]: the longest chain that ends with sorted[i].
    let mut depth: Vec<usize> = Vec::with_capacity(sorted.len());
    for (i, span) in sorted.iter().enumerate() {
        let before = sorted[..i]
            .iter()
            .zip(&depth)
            .filter(|(prev, _)| prev.end <= span.start)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// The accept loop both simulators run: every connection served over HTTP/1 by `handle`
/// with the simulator's shared state, each answer delayed by the wire's latency and logged
/// on its timeline.
pub(crate) fn serve<S, B, H, Fut>(
    listener: TcpListener,
    shared: Arc<S>,
    wire: Arc<Wire>,
    handle: H,
) -> JoinHandle<()>
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let conn_shared = Arc::clone(&shared);
            let conn_wire = Arc::clone(&wire);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let start = Instant::now();
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let wire = Arc::clone(&conn_wire);
                    let fut = handle(Arc::clone(&conn_shared), req);
                    async move {
                        let latency = *lock(&wire.latency);
                        if !latency.is_zero() {
                            tokio::time::sleep(latency).await;
                        }
                        let response = fut.await;
                        lock(&wire.spans).push(Span {
                            method,
                            path,
                            start,
                            end: Instant::now(),
                        });
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> Span {
        let t0 = Instant::now();
        Span {
            method: "GET".into(),
            path: "/".into(),
            start: t0 + Duration::from_millis(start),
            end: t0 + Duration::from_millis(end),
        }
    }

    #[test]
    fn the_critical_path_counts_sequential_round_trips() {
        assert_eq!(critical_path(&[]), 0);
        // three at once, then two at once, then one: three round trips
        let spans = [
            span(0, 50),
            span(1, 51),
            span(2, 52),
            span(53, 103),
            span(54, 104),
            span(105, 155),
        ];
        assert_eq!(critical_path(&spans), 3);
        // overlapping requests are one round trip
        assert_eq!(critical_path(&[span(0, 50), span(40, 90)]), 1);
    }
}
